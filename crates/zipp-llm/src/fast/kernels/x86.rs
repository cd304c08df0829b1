//! The x86 kernels of `kernels.rs`: one generic tile, stamped out per instruction set. A tile is one group
//! of 8 weight rows (the 8 lanes of a vector) against `RX` activation rows: for each
//! 4-value chunk of a block, one vector of weights (4 bytes per row) meets each activation
//! row's 4 bytes broadcast to every lane, so one dot-product instruction advances 8 rows at
//! once and a block ends with one scaling per activation row for all 8.

use std::arch::x86_64::*;

use super::{Packed, QActs, BLOCK, GROUP, Q4_0, Q4_1, Q8_0};

/// What differs between instruction sets: the dot product of unsigned weight bytes with
/// signed activation bytes, 4 per 32-bit lane, added to `acc`.
pub(super) trait Dot {
    /// Q8_0 weights offset by 128 (VNNI: no 16-bit sums to saturate), or sign trick.
    const Q8_OFFSET: bool;
    /// Activation rows per tile (AVX-512 has 32 vector registers, the others 16).
    const RX: usize;
    unsafe fn dot(acc: __m256i, w: __m256i, x: __m256i) -> __m256i;
}

pub(super) struct Avx2;
pub(super) struct AvxVnni;
pub(super) struct Avx512Vnni;

impl Dot for Avx2 {
    const Q8_OFFSET: bool = false;
    const RX: usize = 4;
    #[inline(always)]
    unsafe fn dot(acc: __m256i, w: __m256i, x: __m256i) -> __m256i {
        // SAFETY: inlined only into functions with AVX2 enabled. Pair sums stay within
        // 16 bits: 2 · 15 · 127 for nibbles, 2 · 128 · 127 with the sign trick.
        unsafe {
            let pairs = _mm256_maddubs_epi16(w, x);
            _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
        }
    }
}

impl Dot for AvxVnni {
    const Q8_OFFSET: bool = true;
    const RX: usize = 4;
    #[inline(always)]
    unsafe fn dot(acc: __m256i, w: __m256i, x: __m256i) -> __m256i {
        // SAFETY: inlined only into functions with AVX-VNNI enabled.
        unsafe { _mm256_dpbusd_avx_epi32(acc, w, x) }
    }
}

impl Dot for Avx512Vnni {
    const Q8_OFFSET: bool = true;
    const RX: usize = 8;
    #[inline(always)]
    unsafe fn dot(acc: __m256i, w: __m256i, x: __m256i) -> __m256i {
        // SAFETY: inlined only into functions with AVX-512 VNNI and VL enabled.
        unsafe { _mm256_dpbusd_epi32(acc, w, x) }
    }
}

/// Eight consecutive f16 as f32 (F16C).
#[inline(always)]
unsafe fn half8(p: *const u16) -> __m256 {
    // SAFETY: `p` points at 8 values; F16C is enabled where this is inlined.
    unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)) }
}

/// `w · x` of one chunk (4 values per lane), added to `acc`.
#[inline(always)]
unsafe fn chunk_dot<D: Dot, const F: u8>(acc: __m256i, w: __m256i, x: __m256i) -> __m256i {
    // SAFETY: AVX2 is enabled where this is inlined.
    unsafe {
        if F == Q8_0 && !D::Q8_OFFSET {
            D::dot(acc, _mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w))
        } else {
            D::dot(acc, w, x)
        }
    }
}

/// Group `g0` (8 weight rows) against activation rows `i0..i0 + RX`, into `dst`.
#[inline(always)]
unsafe fn tile<D: Dot, const F: u8, const RX: usize>(
    w: &Packed,
    acts: &QActs,
    g0: usize,
    i0: usize,
    dst: *mut f32,
) {
    let nb = w.blocks;
    // The offset term's coefficient (times `d_x Σq`): Q4_1's minimum, `-8 d` for Q4_0,
    // `-128 d` for Q8_0 offset to unsigned bytes.
    let offsets: Option<(&[u16], f32)> = match F {
        Q4_1 => Some((&w.m, 1.0)),
        Q4_0 => Some((&w.d, -8.0)),
        _ if D::Q8_OFFSET => Some((&w.d, -128.0)),
        _ => None,
    };
    // SAFETY: every index stays inside its buffer (the group's blocks of the packed matrix,
    // the activation rows' blocks); dst as `run`'s contract; AVX2, FMA and F16C are
    // enabled.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); RX];
        let xbase = acts.values.as_ptr() as *const u8;
        for b in 0..nb {
            let at = w.scale_at(g0, b);
            let dw = half8(w.d.as_ptr().add(at));
            let wp = w.values.as_ptr().add(w.group_block(g0, b));
            let xrow = |j: usize| xbase.add(((i0 + j) * nb + b) * BLOCK);
            let mut dots = [_mm256_setzero_si256(); RX];
            if F == Q8_0 {
                for c in 0..8 {
                    let mut wv = _mm256_loadu_si256(wp.add(c * 32) as *const __m256i);
                    if D::Q8_OFFSET {
                        wv = _mm256_xor_si256(wv, _mm256_set1_epi8(-128));
                    }
                    for (j, dot) in dots.iter_mut().enumerate() {
                        let xv =
                            _mm256_set1_epi32((xrow(j).add(c * 4) as *const i32).read_unaligned());
                        *dot = chunk_dot::<D, F>(*dot, wv, xv);
                    }
                }
            } else {
                let low = _mm256_set1_epi8(0x0F);
                for c in 0..4 {
                    let packed = _mm256_loadu_si256(wp.add(c * 32) as *const __m256i);
                    let lo = _mm256_and_si256(packed, low);
                    let hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low);
                    for (j, dot) in dots.iter_mut().enumerate() {
                        let x = xrow(j);
                        let xlo = _mm256_set1_epi32((x.add(c * 4) as *const i32).read_unaligned());
                        let xhi =
                            _mm256_set1_epi32((x.add(16 + c * 4) as *const i32).read_unaligned());
                        *dot = chunk_dot::<D, F>(chunk_dot::<D, F>(*dot, lo, xlo), hi, xhi);
                    }
                }
            }
            let coef = offsets.map(|(coef, scale)| {
                _mm256_mul_ps(half8(coef.as_ptr().add(at)), _mm256_set1_ps(scale))
            });
            for (j, a) in acc.iter_mut().enumerate() {
                let block = (i0 + j) * nb + b;
                let scale = _mm256_mul_ps(dw, _mm256_set1_ps(*acts.d.get_unchecked(block)));
                *a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots[j]), scale, *a);
                if let Some(coef) = coef {
                    *a = _mm256_fmadd_ps(coef, _mm256_set1_ps(*acts.s.get_unchecked(block)), *a);
                }
            }
        }
        let lanes = (w.rows - g0).min(GROUP);
        for (j, a) in acc.iter().enumerate() {
            let out = dst.add((i0 + j) * w.rows + g0);
            if lanes == GROUP {
                _mm256_storeu_ps(out, *a);
            } else {
                let mut all = [0f32; GROUP];
                _mm256_storeu_ps(all.as_mut_ptr(), *a);
                std::ptr::copy_nonoverlapping(all.as_ptr(), out, lanes);
            }
        }
    }
}

/// Tiles covering weight rows `rows` (starting at a group) and every activation row.
#[inline(always)]
unsafe fn run_tiles<D: Dot, const F: u8>(
    w: &Packed,
    acts: &QActs,
    rows: std::ops::Range<usize>,
    dst: *mut f32,
) {
    debug_assert_eq!(rows.start % GROUP, 0);
    // SAFETY: as `run`'s contract; tiles stay inside `rows` and the activation rows.
    unsafe {
        // A macro, not a closure over function pointers: the tiles must inline into the
        // function whose target features they use.
        macro_rules! tiles {
            ($i:expr, $rx:literal) => {{
                for g in (rows.start..rows.end).step_by(GROUP) {
                    tile::<D, F, $rx>(w, acts, g, $i, dst);
                }
            }};
        }
        let mut i = 0;
        if D::RX >= 8 {
            while i + 8 <= acts.rows {
                tiles!(i, 8);
                i += 8;
            }
        }
        while i + 4 <= acts.rows {
            tiles!(i, 4);
            i += 4;
        }
        while i + 2 <= acts.rows {
            tiles!(i, 2);
            i += 2;
        }
        while i < acts.rows {
            tiles!(i, 1);
            i += 1;
        }
    }
}

#[inline(always)]
unsafe fn run_format<D: Dot>(
    w: &Packed,
    acts: &QActs,
    rows: std::ops::Range<usize>,
    dst: *mut f32,
) {
    // SAFETY: as `run`'s contract.
    unsafe {
        match w.format.code() {
            Q4_0 => run_tiles::<D, Q4_0>(w, acts, rows, dst),
            Q4_1 => run_tiles::<D, Q4_1>(w, acts, rows, dst),
            _ => run_tiles::<D, Q8_0>(w, acts, rows, dst),
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn run_avx2(
    w: &Packed,
    acts: &QActs,
    rows: std::ops::Range<usize>,
    dst: *mut f32,
) {
    // SAFETY: as `run`'s contract.
    unsafe { run_format::<Avx2>(w, acts, rows, dst) }
}

#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub(super) unsafe fn run_avxvnni(
    w: &Packed,
    acts: &QActs,
    rows: std::ops::Range<usize>,
    dst: *mut f32,
) {
    // SAFETY: as `run`'s contract.
    unsafe { run_format::<AvxVnni>(w, acts, rows, dst) }
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
pub(super) unsafe fn run_avx512vnni(
    w: &Packed,
    acts: &QActs,
    rows: std::ops::Range<usize>,
    dst: *mut f32,
) {
    // SAFETY: as `run`'s contract.
    unsafe { run_format::<Avx512Vnni>(w, acts, rows, dst) }
}
