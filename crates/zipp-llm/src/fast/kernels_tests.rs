//! The quantized kernels (`kernels.rs`): each one this CPU runs against the plain code; the
//! plain code against candle's own quantized product (same activation quantization) and
//! against the dequantized matrix; repacked rows against candle's dequantization; and the
//! extreme values where 16-bit sums could saturate.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};

use super::{Format, Isa, Packed};

fn packed(q: &QTensor) -> Packed {
    let format = match q.dtype() {
        GgmlDType::Q4_0 => Format::Q4_0,
        GgmlDType::Q4_1 => Format::Q4_1,
        _ => Format::Q8_0,
    };
    let (rows, cols) = q.shape().dims2().unwrap();
    Packed::from_gguf(format, rows, cols, &q.data().unwrap())
}

fn product(w: &Packed, isa: Isa, x: &[f32], m: usize) -> Vec<f32> {
    let mut out = vec![f32::NAN; m * w.rows];
    w.matmul(isa, m, x, &mut out);
    out
}

/// The largest difference relative to the largest magnitude of `expected`.
fn relative_gap(got: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(got.len(), expected.len());
    let scale = expected.iter().fold(0f32, |a, v| a.max(v.abs()));
    let gap = got
        .iter()
        .zip(expected)
        .fold(0f32, |a, (g, e)| a.max((g - e).abs()));
    gap / scale
}

const FORMATS: [GgmlDType; 3] = [GgmlDType::Q4_0, GgmlDType::Q4_1, GgmlDType::Q8_0];

/// Odd shapes on purpose: 70 weight rows (not whole tiles or row groups) of 9 blocks.
fn random(rows: usize, cols: usize) -> Tensor {
    Tensor::randn(0f32, 1.0, (rows, cols), &Device::Cpu).unwrap()
}

#[test]
fn every_kernel_this_cpu_runs_matches_the_plain_one() {
    let (n, k) = (70usize, 9 * 32);
    let w = random(n, k);
    let mut ran = Vec::new();
    for dtype in FORMATS {
        let q = QTensor::quantize(&w, dtype).unwrap();
        let packed = packed(&q);
        for m in [1usize, 3, 4, 7, 9, 17] {
            let x = random(m, k)
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let plain = product(&packed, Isa::Plain, &x, m);
            assert!(plain.iter().all(|v| v.is_finite()), "{dtype:?} m={m}");
            for isa in Isa::ALL.into_iter().filter(|isa| isa.available()) {
                let got = product(&packed, isa, &x, m);
                let gap = relative_gap(&got, &plain);
                assert!(gap < 1e-5, "{dtype:?} {isa:?} m={m}: relative gap {gap}");
                if !ran.contains(&isa) {
                    ran.push(isa);
                }
            }
        }
    }
    // An x86-64 machine of this project has AVX2 at least: its kernel must have been checked.
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        assert!(ran.contains(&Isa::Avx2), "ran {ran:?}");
    }
    assert!(ran.contains(&Isa::chosen()), "ran {ran:?}");
}

/// For Q4_0 candle quantizes activations to Q8_0 exactly as these kernels do (scale rounded to
/// f16, values to nearest), so the products agree to float rounding (its Q8_0 kernels quantize
/// activations by 256 values, its Q4_1 code re-encodes nothing: not comparable); all three stay
/// within Q8 precision of the dequantized matrix.
#[test]
fn the_plain_kernel_matches_candle_and_the_dequantized_matrix() {
    let (n, k) = (48usize, 8 * 32);
    let w = random(n, k);
    for dtype in FORMATS {
        let q = QTensor::quantize(&w, dtype).unwrap();
        let packed = packed(&q);
        let deq = q.dequantize(&Device::Cpu).unwrap();
        for m in [1usize, 5] {
            let x = random(m, k);
            let xv = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let plain = product(&packed, Isa::Plain, &xv, m);
            let exact = x.matmul(&deq.t().unwrap()).unwrap();
            let exact = exact.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let gap = relative_gap(&plain, &exact);
            assert!(
                gap < 3e-2,
                "{dtype:?} m={m}: {gap} from the dequantized product"
            );
            if dtype == GgmlDType::Q4_0 {
                let candle = QMatMul::from_qtensor(QTensor::quantize(&w, dtype).unwrap()).unwrap();
                let candle = candle.forward(&x).unwrap();
                let candle = candle.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let gap = relative_gap(&plain, &candle);
                assert!(gap < 1e-5, "{dtype:?} m={m}: {gap} from candle's product");
            }
        }
    }
}

#[test]
fn repacked_rows_read_back_as_candle_dequantizes_them() {
    let (n, k) = (6usize, 4 * 32);
    let w = random(n, k);
    for dtype in FORMATS {
        let q = QTensor::quantize(&w, dtype).unwrap();
        let expected = q
            .dequantize(&Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let packed = packed(&q);
        let mut rows = vec![0f32; 4 * k];
        packed.rows_to_f32(1..5, &mut rows);
        assert_eq!(rows, expected[k..5 * k], "{dtype:?}");
    }
}

/// Q8_0 weights at -128 and 127 against activations at ±127: where AVX2's 16-bit pair sums are
/// closest to saturating (2 · 128 · 127) and VNNI's offset of 128 is largest. Every kernel
/// must give the exact integer result.
#[test]
fn extreme_q8_values_do_not_saturate() {
    let k = 2 * 32;
    let rows = 3;
    let mut bytes = Vec::new();
    for r in 0..rows {
        for b in 0..k / 32 {
            bytes.extend_from_slice(&half::f16::from_f32(1.0).to_le_bytes());
            for j in 0..32 {
                let v: i8 = match (r + b + j) % 3 {
                    0 => -128,
                    1 => 127,
                    _ => -127,
                };
                bytes.push(v as u8);
            }
        }
    }
    let packed = Packed::from_gguf(Format::Q8_0, rows, k, &bytes);
    // Activations of ±1 quantize to ±127 with a scale of 1/127 (rounded to f16).
    let x: Vec<f32> = (0..2 * k)
        .map(|j| if (j / 3) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let plain = product(&packed, Isa::Plain, &x, 2);
    for isa in Isa::ALL.into_iter().filter(|isa| isa.available()) {
        let got = product(&packed, isa, &x, 2);
        assert!(
            relative_gap(&got, &plain) < 1e-6,
            "{isa:?}: {got:?} vs {plain:?}"
        );
    }
    // And the plain result is the integer dot product times the scales.
    let d = half::f16::from_f32(1.0 / 127.0).to_f32();
    let mut w = vec![0f32; rows * k];
    packed.rows_to_f32(0..rows, &mut w);
    for i in 0..2 {
        for r in 0..rows {
            let dot: f32 = (0..k)
                .map(|j| w[r * k + j] * 127.0 * x[i * k + j].signum())
                .sum();
            let expected = dot * d;
            let got = plain[i * rows + r];
            assert!(
                (got - expected).abs() <= 1e-4 * expected.abs().max(1.0),
                "row {r} of {i}: {got} vs {expected}"
            );
        }
    }
}
