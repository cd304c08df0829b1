//! Quantized matrix products of our own for Q4_0, Q4_1 and Q8_0 weights (and the types re-encoded
//! as Q8_0), with the CPU's widest integer dot product picked at run time: AVX-512 VNNI
//! (`vpdpbusd` on 256-bit vectors, 32 registers), AVX-VNNI, or AVX2 (`vpmaddubsw`); plain code
//! elsewhere. One binary serves every x86-64 CPU (`ZIPP_LLM_KERNELS` may name a narrower kernel,
//! to measure what an older CPU runs).
//!
//! Why our own: candle 0.11 has AVX2 dot products for Q4_0/Q8_0 one row at a time and none for
//! Q4_1 (scalar code, so those files were re-encoded as Q8_0 at 1.7x the bytes); llama.cpp on an
//! AVX-512 VNNI machine decoded 2.6x and prefilled 1.9x faster than that. Here:
//! - weights are repacked once at load into groups of 8 rows: for each block, chunks of 32
//!   bytes hold 4 consecutive values of each of the 8 rows, so one 32-bit lane of a vector is
//!   one row. A dot-product instruction takes a chunk of weights and 4 activation bytes
//!   broadcast to every lane and advances 8 rows by 4 values; a block ends with one int→float
//!   conversion and one scaling per activation row for all 8 rows (the 8 scales are one load).
//!   The group's blocks follow each other, so a product reads one sequential stream;
//! - scales (and Q4_1 minimums) stay f16, side by side for a group (converted by F16C, 8 at a
//!   time): one token at a time is bound by memory, and f32 scales cost Q4_1 a fifth more bytes;
//! - activations are quantized once per product to 8-bit blocks of 32 (as llama.cpp's Q8_0 and
//!   Q8_1: scale `max|x| / 127` rounded to f16, values rounded to nearest), with each block's
//!   `d · Σq` kept for the offset terms;
//! - 4-bit values are unsigned nibbles; a block's dot product is `d_w d_x Σ n·q + m_w d_x Σq`
//!   (`m_w` is Q4_1's minimum, `-8 d_w` for Q4_0), so `vpdpbusd` (unsigned × signed bytes) takes
//!   them as they are; Q8_0 weights go through the sign trick on AVX2 (`|w|`, `sign(x, w)`) and
//!   an offset of 128 (`-128 d_w` in the offset term) with VNNI;
//! - a tile is one group against 1, 2, 4 or 8 activation rows (8 only with AVX-512's
//!   registers): one token is the 1-row tile, a prompt reuses each weight chunk for 4–8 rows;
//! - groups of weight rows are shared among candle's barrier thread pool.
//!
//! Every kernel computes the same integer dot products (exactly: no 16-bit sum saturates for
//! these ranges) and differs only in float summation order; the tests hold each one the CPU has
//! against the plain code, and the plain code against the dequantized matrix and candle.

use ::half::f16;

use super::SendPtr;

/// Values per quantization block (all three formats).
pub(crate) const BLOCK: usize = 32;

/// The weight formats these kernels multiply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Q4_0,
    Q4_1,
    Q8_0,
}

impl Format {
    /// Bytes of one GGUF block.
    pub(crate) fn gguf_block_bytes(self) -> usize {
        match self {
            Format::Q4_0 => 18,
            Format::Q4_1 => 20,
            Format::Q8_0 => 34,
        }
    }

    /// Bytes of one block's values once repacked.
    fn value_bytes(self) -> usize {
        match self {
            Format::Q4_0 | Format::Q4_1 => 16,
            Format::Q8_0 => 32,
        }
    }

    fn code(self) -> u8 {
        match self {
            Format::Q4_0 => Q4_0,
            Format::Q4_1 => Q4_1,
            Format::Q8_0 => Q8_0,
        }
    }
}

const Q4_0: u8 = 0;
const Q4_1: u8 = 1;
const Q8_0: u8 = 2;

/// The instruction sets the kernels come in, widest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Avx512Vnni,
    AvxVnni,
    Avx2,
    Plain,
}

impl Isa {
    pub const ALL: [Isa; 4] = [Isa::Avx512Vnni, Isa::AvxVnni, Isa::Avx2, Isa::Plain];

    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512Vnni => "avx512vnni",
            Isa::AvxVnni => "avxvnni",
            Isa::Avx2 => "avx2",
            Isa::Plain => "plain",
        }
    }

    /// Whether this CPU runs the kernel.
    pub fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c");
            match self {
                Isa::Avx512Vnni => {
                    avx2 && std::arch::is_x86_feature_detected!("avx512f")
                        && std::arch::is_x86_feature_detected!("avx512vl")
                        && std::arch::is_x86_feature_detected!("avx512vnni")
                }
                Isa::AvxVnni => avx2 && std::arch::is_x86_feature_detected!("avxvnni"),
                Isa::Avx2 => avx2,
                Isa::Plain => true,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Isa::Plain
        }
    }

    /// The kernel this process uses: the widest the CPU has, unless `ZIPP_LLM_KERNELS` names
    /// a narrower one (for benchmarks: what an AVX2-only machine runs).
    pub fn chosen() -> Isa {
        static CHOSEN: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let best = Isa::ALL
                .into_iter()
                .find(|isa| isa.available())
                .unwrap_or(Isa::Plain);
            match std::env::var("ZIPP_LLM_KERNELS") {
                Ok(name) if !name.is_empty() => {
                    match Isa::ALL.into_iter().find(|isa| isa.name() == name) {
                        Some(isa) if isa.available() => isa,
                        _ => {
                            tracing::warn!(
                                asked = %name,
                                using = best.name(),
                                "ZIPP_LLM_KERNELS names no kernel this CPU runs"
                            );
                            best
                        }
                    }
                }
                _ => best,
            }
        })
    }
}

/// Weight rows interleaved together (the 8 lanes of a 256-bit vector of 32-bit sums).
pub(crate) const GROUP: usize = 8;

/// A weight matrix repacked for the kernels: `rows` rows of `blocks` blocks, in groups of
/// [`GROUP`] rows (the last padded with zeros). A group's block is [`Format::value_bytes`] ×
/// 8 bytes of values: chunks of 32 bytes holding 4 consecutive values of each of the 8 rows
/// (row 0's 4 bytes, row 1's, …), so one 32-bit lane of a vector is one row. Q8_0 has 8 such
/// chunks (values 0–3, 4–7, …); 4-bit formats have 4, whose low nibbles are values 4c..4c+3
/// and high nibbles values 16+4c..16+4c+3.
pub(crate) struct Packed {
    format: Format,
    pub(crate) rows: usize,
    blocks: usize,
    values: Vec<u8>,
    /// Block scales (f16 bits), at [`Packed::scale_at`]: a group's 8 rows side by side.
    d: Vec<u16>,
    /// Q4_1's block minimums (f16 bits), as `d` (empty for the other formats).
    m: Vec<u16>,
}

fn half_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn from_half(bits: u16) -> f32 {
    f16::from_bits(bits).to_f32()
}

impl Packed {
    /// Repacks GGUF blocks of `format`: `rows` rows of `cols` values (a whole number of blocks,
    /// which the caller checks).
    pub(crate) fn from_gguf(format: Format, rows: usize, cols: usize, bytes: &[u8]) -> Self {
        let blocks = cols / BLOCK;
        debug_assert_eq!(bytes.len(), rows * blocks * format.gguf_block_bytes());
        let n = rows.next_multiple_of(GROUP) * blocks;
        let mut packed = Packed {
            format,
            rows,
            blocks,
            values: vec![0; n * format.value_bytes()],
            d: vec![0; n],
            m: vec![0; if format == Format::Q4_1 { n } else { 0 }],
        };
        for (i, block) in bytes.chunks_exact(format.gguf_block_bytes()).enumerate() {
            let (r, b) = (i / blocks, i % blocks);
            let at = packed.scale_at(r, b);
            packed.d[at] = half_at(block, 0);
            let qs = match format {
                Format::Q4_1 => {
                    packed.m[at] = half_at(block, 2);
                    &block[4..]
                }
                _ => &block[2..],
            };
            for v in 0..BLOCK {
                let (byte, shift) = packed.place(r, b, v);
                packed.values[byte] |= match format {
                    Format::Q8_0 => qs[v],
                    // GGUF: byte j holds value j (low nibble) and value j + 16 (high nibble).
                    _ if v < BLOCK / 2 => qs[v] & 0x0F,
                    _ => qs[v - BLOCK / 2] >> 4,
                } << shift;
            }
        }
        packed
    }

    /// Q4_K blocks (256 values: 8 sub-blocks of 32 with 6-bit scales and minimums under two f16
    /// super-scales) as Q4_1: each sub-block's scale `d · sc` and minimum `-dmin · m` become
    /// its Q4_1 scale and minimum, rounded to f16 (a relative error of at most 2⁻¹¹ on a scale,
    /// under a hundredth of a quantization step); the 4-bit values are kept as they are.
    pub(crate) fn from_q4k(rows: usize, cols: usize, bytes: &[u8]) -> Self {
        const SUPER: usize = 256;
        const BYTES: usize = 144;
        let blocks = cols / BLOCK;
        debug_assert_eq!(bytes.len(), rows * cols / SUPER * BYTES);
        let n = rows.next_multiple_of(GROUP) * blocks;
        let mut packed = Packed {
            format: Format::Q4_1,
            rows,
            blocks,
            values: vec![0; n * Format::Q4_1.value_bytes()],
            d: vec![0; n],
            m: vec![0; n],
        };
        for (i, sb) in bytes.chunks_exact(BYTES).enumerate() {
            let (r, first) = (i / (cols / SUPER), i % (cols / SUPER) * (SUPER / BLOCK));
            let d = from_half(half_at(sb, 0));
            let dmin = from_half(half_at(sb, 2));
            let scales = &sb[4..16];
            let qs = &sb[16..];
            for j in 0..SUPER / BLOCK {
                // llama.cpp's get_scale_min_k4.
                let (sc, m) = if j < 4 {
                    (scales[j] & 63, scales[j + 4] & 63)
                } else {
                    (
                        (scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4),
                        (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4),
                    )
                };
                let b = first + j;
                let at = packed.scale_at(r, b);
                packed.d[at] = f16::from_f32(d * f32::from(sc)).to_bits();
                packed.m[at] = f16::from_f32(-dmin * f32::from(m)).to_bits();
                let pair = &qs[j / 2 * 32..j / 2 * 32 + 32];
                for (v, &byte) in pair.iter().enumerate() {
                    let q = if j % 2 == 0 { byte & 0x0F } else { byte >> 4 };
                    let (at_byte, shift) = packed.place(r, b, v);
                    packed.values[at_byte] |= q << shift;
                }
            }
        }
        packed
    }

    /// Where row `r`'s block `b` keeps its scale (and minimum).
    #[inline(always)]
    fn scale_at(&self, r: usize, b: usize) -> usize {
        (r / GROUP * self.blocks + b) * GROUP + r % GROUP
    }

    /// The first byte of row `r`'s group's block `b`.
    #[inline(always)]
    fn group_block(&self, r: usize, b: usize) -> usize {
        (r / GROUP * self.blocks + b) * GROUP * self.format.value_bytes()
    }

    /// The byte holding value `v` of row `r`'s block `b`, and its nibble's shift.
    fn place(&self, r: usize, b: usize, v: usize) -> (usize, u32) {
        let base = self.group_block(r, b) + (r % GROUP) * 4 + v % 4;
        match self.format {
            Format::Q8_0 => (base + v / 4 * 32, 0),
            _ => (base + (v % 16) / 4 * 32, if v < 16 { 0 } else { 4 }),
        }
    }

    /// Value `v` of row `r`'s block `b`: signed for Q8_0, the unsigned nibble for 4-bit formats.
    fn value(&self, r: usize, b: usize, v: usize) -> i32 {
        let (byte, shift) = self.place(r, b, v);
        match self.format {
            Format::Q8_0 => i32::from(self.values[byte] as i8),
            _ => i32::from((self.values[byte] >> shift) & 0x0F),
        }
    }

    pub(crate) fn cols(&self) -> usize {
        self.blocks * BLOCK
    }

    /// Appends `other`'s rows (fused projections) when the format and width match and this
    /// matrix fills its last group.
    pub(crate) fn append(&mut self, other: Packed) -> Result<(), Packed> {
        if other.format != self.format
            || other.blocks != self.blocks
            || !self.rows.is_multiple_of(GROUP)
        {
            return Err(other);
        }
        self.values.extend(other.values);
        self.d.extend(other.d);
        self.m.extend(other.m);
        self.rows += other.rows;
        Ok(())
    }

    /// The value a block's offset term multiplies `d_x Σq` by: Q4_1's minimum, `-8 d` for Q4_0.
    fn offset(&self, at: usize) -> f32 {
        match self.format {
            Format::Q4_1 => from_half(self.m[at]),
            Format::Q4_0 => -8.0 * from_half(self.d[at]),
            Format::Q8_0 => 0.0,
        }
    }

    /// Rows `range`, dequantized, into `out`.
    pub(crate) fn rows_to_f32(&self, range: std::ops::Range<usize>, out: &mut [f32]) {
        let row_blocks = range.flat_map(|r| (0..self.blocks).map(move |b| (r, b)));
        for ((r, b), out) in row_blocks.zip(out.chunks_exact_mut(BLOCK)) {
            let at = self.scale_at(r, b);
            let (d, m) = (from_half(self.d[at]), self.offset(at));
            for (v, o) in out.iter_mut().enumerate() {
                *o = d * self.value(r, b, v) as f32 + m;
            }
        }
    }

    /// `dst[mrows][rows] = lhs[mrows][cols] · Wᵀ` with the kernel of `isa` (which the CPU must
    /// run: [`Isa::available`]), activations quantized to 8 bits.
    pub(crate) fn matmul(&self, isa: Isa, mrows: usize, lhs: &[f32], dst: &mut [f32]) {
        let k = self.cols();
        assert!(
            lhs.len() >= mrows * k && dst.len() >= mrows * self.rows,
            "quantized matmul buffer sizes"
        );
        ACTS.with(|cell| {
            let mut acts = cell.borrow_mut();
            acts.quantize(mrows, k, lhs);
            let acts = &*acts;
            let dst_ptr = SendPtr(dst.as_mut_ptr());
            let groups = self.rows.div_ceil(ROW_GROUP);
            candle_core::utils::barrier_pool().execute_chunked(groups, |items| {
                let ptr = dst_ptr;
                let rows = items.start * ROW_GROUP..(items.end * ROW_GROUP).min(self.rows);
                // SAFETY: each work item writes only the columns of its own weight rows, in
                // `dst` of `mrows × self.rows` values (checked above); `isa` runs on this CPU.
                unsafe { run(isa, self, acts, rows, ptr.0) }
            });
        });
    }
}

/// Weight rows per work item of the thread pool.
const ROW_GROUP: usize = 16;

thread_local! {
    static ACTS: std::cell::RefCell<QActs> = const { std::cell::RefCell::new(QActs::new()) };
}

/// Activations quantized to 8-bit blocks of 32.
pub(crate) struct QActs {
    rows: usize,
    blocks: usize,
    values: Vec<i8>,
    d: Vec<f32>,
    /// `d · Σq` of each block.
    s: Vec<f32>,
}

impl QActs {
    const fn new() -> Self {
        QActs {
            rows: 0,
            blocks: 0,
            values: Vec::new(),
            d: Vec::new(),
            s: Vec::new(),
        }
    }

    fn quantize(&mut self, rows: usize, k: usize, x: &[f32]) {
        self.rows = rows;
        self.blocks = k / BLOCK;
        let n = rows * self.blocks;
        self.values.resize(n * BLOCK, 0);
        self.d.resize(n, 0.0);
        self.s.resize(n, 0.0);
        for (i, block) in x[..rows * k].chunks_exact(BLOCK).enumerate() {
            let amax = block.iter().fold(0f32, |a, v| a.max(v.abs()));
            let d = amax / 127.0;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            let mut sum = 0i32;
            for (q, &v) in self.values[i * BLOCK..(i + 1) * BLOCK]
                .iter_mut()
                .zip(block)
            {
                *q = (v * id).round() as i8;
                sum += i32::from(*q);
            }
            let d = f16::from_f32(d).to_f32();
            self.d[i] = d;
            self.s[i] = d * sum as f32;
        }
    }
}

/// Computes the columns `rows` of `dst` (`acts.rows × w.rows`).
///
/// # Safety
/// `dst` holds `acts.rows × w.rows` values, no other thread writes these columns, and the CPU
/// runs `isa`.
unsafe fn run(isa: Isa, w: &Packed, acts: &QActs, rows: std::ops::Range<usize>, dst: *mut f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as this function's contract.
    unsafe {
        match isa {
            Isa::Avx512Vnni => return x86::run_avx512vnni(w, acts, rows, dst),
            Isa::AvxVnni => return x86::run_avxvnni(w, acts, rows, dst),
            Isa::Avx2 => return x86::run_avx2(w, acts, rows, dst),
            Isa::Plain => {}
        }
    }
    let _ = isa;
    // SAFETY: as this function's contract.
    unsafe { run_plain(w, acts, rows, dst) }
}

/// The plain kernel (any CPU; the reference the others are tested against): each group's 8
/// rows at once, in integers.
///
/// # Safety
/// As [`run`].
unsafe fn run_plain(w: &Packed, acts: &QActs, rows: std::ops::Range<usize>, dst: *mut f32) {
    let nb = w.blocks;
    let four_bit = w.format != Format::Q8_0;
    let chunks = if four_bit { 4 } else { 8 };
    for i in 0..acts.rows {
        for g in (rows.start..rows.end).step_by(GROUP) {
            let mut total = [0f32; GROUP];
            for b in 0..nb {
                let x = &acts.values[(i * nb + b) * BLOCK..(i * nb + b + 1) * BLOCK];
                let base = w.group_block(g, b);
                let mut dots = [0i32; GROUP];
                for c in 0..chunks {
                    let chunk = &w.values[base + c * 32..base + (c + 1) * 32];
                    for (lane, dot) in dots.iter_mut().enumerate() {
                        for t in 0..4 {
                            let byte = chunk[lane * 4 + t];
                            *dot += if four_bit {
                                i32::from(byte & 0x0F) * i32::from(x[4 * c + t])
                                    + i32::from(byte >> 4) * i32::from(x[16 + 4 * c + t])
                            } else {
                                i32::from(byte as i8) * i32::from(x[4 * c + t])
                            };
                        }
                    }
                }
                let (dx, sx) = (acts.d[i * nb + b], acts.s[i * nb + b]);
                for (lane, t) in total.iter_mut().enumerate() {
                    let at = w.scale_at(g + lane, b);
                    *t += dots[lane] as f32 * from_half(w.d[at]) * dx + w.offset(at) * sx;
                }
            }
            for (lane, &t) in total.iter().enumerate().take(rows.end - g) {
                // SAFETY: (i, g + lane) is inside dst, whose columns `rows` this call alone
                // writes.
                unsafe { *dst.add(i * w.rows + g + lane) = t };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
#[path = "kernels_tests.rs"]
mod tests;
