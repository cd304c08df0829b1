//! Q4_1, Q5_0 and Q5_1 tensors re-encoded as Q8_0 at load time (CPU only).
//!
//! candle 0.11 multiplies these three types with scalar code on CPU, while Q8_0 has AVX2
//! kernels: SmolLM2-135M Q4_1 decodes ~1.4x and prefills ~2.5x faster once re-encoded. Q8_0
//! keeps each value to within 1/254 of its block's largest magnitude, well under the source
//! types' own step, at 1.7x their size.
//!
//! Nothing else is copied: the loader reads a virtual GGUF whose header lists the new types
//! and whose tensor data comes from memory (re-encoded tensors) or from the original file.

use std::io::{Read, Seek, SeekFrom, Write};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Result};

/// Quantized types candle 0.11 multiplies with scalar code on CPU.
pub(super) const SLOW_ON_CPU: [GgmlDType; 3] = [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q5_1];

const ALIGNMENT: u64 = 32;

/// Where a tensor's bytes come from.
enum Source {
    Memory(Vec<u8>),
    File(u64),
}

struct Segment {
    start: u64,
    len: u64,
    source: Source,
}

/// A GGUF file assembled from a new header, re-encoded tensors and the original file.
pub(super) struct Overlay<R> {
    header: Vec<u8>,
    segments: Vec<Segment>,
    len: u64,
    pos: u64,
    file: R,
}

/// The header and a reader of the file with its [`SLOW_ON_CPU`] tensors re-encoded as Q8_0,
/// or `None` when it has none.
pub(super) fn requantize_for_cpu<R: Read + Seek>(
    content: &Content,
    mut file: R,
) -> Result<Option<(Content, Overlay<R>)>> {
    let slow = |dtype: GgmlDType| SLOW_ON_CPU.contains(&dtype);
    if !content
        .tensor_infos
        .values()
        .any(|info| slow(info.ggml_dtype))
    {
        return Ok(None);
    }
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort_by_key(|name| content.tensor_infos[*name].offset);

    let mut infos = Vec::with_capacity(names.len());
    let mut segments = Vec::with_capacity(names.len());
    let mut offset = 0u64;
    for name in names {
        let info = &content.tensor_infos[name];
        let (dtype, source) = if slow(info.ggml_dtype) {
            let tensor = content.tensor(&mut file, name, &Device::Cpu)?;
            let q8 = QTensor::quantize(&tensor.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?;
            (GgmlDType::Q8_0, Source::Memory(q8.data()?.into_owned()))
        } else {
            (
                info.ggml_dtype,
                Source::File(content.tensor_data_offset + info.offset),
            )
        };
        let elements = info.shape.elem_count() as u64;
        let len = elements / dtype.block_size() as u64 * dtype.type_size() as u64;
        infos.push((name.as_str(), info.shape.dims().to_vec(), dtype, offset));
        segments.push(Segment {
            start: offset,
            len,
            source,
        });
        offset = (offset + len).div_ceil(ALIGNMENT) * ALIGNMENT;
    }

    let mut header = Vec::new();
    header.write_all(b"GGUF")?;
    header.write_all(&3u32.to_le_bytes())?;
    header.write_all(&(infos.len() as u64).to_le_bytes())?;
    // The layout below uses the default alignment, so any other one is dropped.
    let metadata: Vec<_> = content
        .metadata
        .iter()
        .filter(|(key, _)| key.as_str() != "general.alignment")
        .collect();
    header.write_all(&(metadata.len() as u64).to_le_bytes())?;
    for (key, value) in metadata {
        write_string(&mut header, key)?;
        header.write_all(&value_type(value).to_le_bytes())?;
        write_value(&mut header, value)?;
    }
    for (name, dims, dtype, offset) in &infos {
        write_string(&mut header, name)?;
        header.write_all(&(dims.len() as u32).to_le_bytes())?;
        for dim in dims.iter().rev() {
            header.write_all(&(*dim as u64).to_le_bytes())?;
        }
        header.write_all(&dtype_code(*dtype).to_le_bytes())?;
        header.write_all(&offset.to_le_bytes())?;
    }
    header.resize(
        (header.len() as u64).div_ceil(ALIGNMENT) as usize * ALIGNMENT as usize,
        0,
    );

    let data_start = header.len() as u64;
    for segment in &mut segments {
        segment.start += data_start;
    }
    let mut overlay = Overlay {
        len: data_start + offset,
        header,
        segments,
        pos: 0,
        file,
    };
    let content = Content::read(&mut overlay)?;
    Ok(Some((content, overlay)))
}

impl<R: Read + Seek> Read for Overlay<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        if self.pos < self.header.len() as u64 {
            let from = &self.header[self.pos as usize..];
            let n = from.len().min(buf.len());
            buf[..n].copy_from_slice(&from[..n]);
            self.pos += n as u64;
            return Ok(n);
        }
        // The first segment ending after `pos`: either `pos` is inside it or in the padding
        // before it.
        let index = self
            .segments
            .partition_point(|s| s.start + s.len <= self.pos);
        let n = match self.segments.get(index) {
            Some(s) if s.start <= self.pos => {
                let skip = self.pos - s.start;
                let n = (s.len - skip).min(buf.len() as u64) as usize;
                match &s.source {
                    Source::Memory(bytes) => {
                        buf[..n].copy_from_slice(&bytes[skip as usize..skip as usize + n])
                    }
                    Source::File(at) => {
                        self.file.seek(SeekFrom::Start(at + skip))?;
                        self.file.read_exact(&mut buf[..n])?;
                    }
                }
                n
            }
            next => {
                let end = next.map_or(self.len, |s| s.start);
                let n = (end - self.pos).min(buf.len() as u64) as usize;
                buf[..n].fill(0);
                n
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R> Seek for Overlay<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.pos)
    }
}

fn write_string(out: &mut Vec<u8>, text: &str) -> Result<()> {
    out.write_all(&(text.len() as u64).to_le_bytes())?;
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// GGUF's value type codes.
fn value_type(value: &Value) -> u32 {
    match value {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<()> {
    match value {
        Value::U8(v) => out.push(*v),
        Value::I8(v) => out.extend(v.to_le_bytes()),
        Value::U16(v) => out.extend(v.to_le_bytes()),
        Value::I16(v) => out.extend(v.to_le_bytes()),
        Value::U32(v) => out.extend(v.to_le_bytes()),
        Value::I32(v) => out.extend(v.to_le_bytes()),
        Value::F32(v) => out.extend(v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(v) => write_string(out, v)?,
        Value::U64(v) => out.extend(v.to_le_bytes()),
        Value::I64(v) => out.extend(v.to_le_bytes()),
        Value::F64(v) => out.extend(v.to_le_bytes()),
        Value::Array(items) => {
            let kind = items.first().map_or(4, value_type);
            if items.iter().any(|item| value_type(item) != kind) {
                candle_core::bail!("a metadata array mixes value types");
            }
            out.extend(kind.to_le_bytes());
            out.extend((items.len() as u64).to_le_bytes());
            for item in items {
                write_value(out, item)?;
            }
        }
    }
    Ok(())
}

/// ggml's type codes.
fn dtype_code(dtype: GgmlDType) -> u32 {
    match dtype {
        GgmlDType::F32 => 0,
        GgmlDType::F16 => 1,
        GgmlDType::Q4_0 => 2,
        GgmlDType::Q4_1 => 3,
        GgmlDType::Q5_0 => 6,
        GgmlDType::Q5_1 => 7,
        GgmlDType::Q8_0 => 8,
        GgmlDType::Q8_1 => 9,
        GgmlDType::Q2K => 10,
        GgmlDType::Q3K => 11,
        GgmlDType::Q4K => 12,
        GgmlDType::Q5K => 13,
        GgmlDType::Q6K => 14,
        GgmlDType::Q8K => 15,
        GgmlDType::BF16 => 30,
    }
}
