//! PNG encoding, and fitting an image under Discord's attachment size limit.

use image::{ImageEncoder, RgbImage};

/// Width of the divider between the two halves of a compare image (pixels).
pub const COMPARE_GAP: u32 = 8;

/// Puts two renders side by side (`left` | gap | `right`) on a dark background; images of
/// different heights are top-aligned.
pub fn side_by_side(left: &RgbImage, right: &RgbImage) -> RgbImage {
    let width = left.width() + COMPARE_GAP + right.width();
    let height = left.height().max(right.height());
    let mut out = RgbImage::from_pixel(width, height, image::Rgb([24, 24, 28]));
    image::imageops::replace(&mut out, left, 0, 0);
    image::imageops::replace(&mut out, right, i64::from(left.width() + COMPARE_GAP), 0);
    out
}

/// Puts same-sized renders in a grid of [`crate::domain::grid_shape`] (four as 2 × 2, fewer in
/// a row), edge to edge, so that [`grid_cell`] cuts each one back out exactly.
pub fn grid(images: &[RgbImage]) -> RgbImage {
    let (cols, rows) = crate::domain::grid_shape(images.len() as u32);
    let (w, h) = images.first().map_or((0, 0), RgbImage::dimensions);
    let mut out = RgbImage::new(w * cols, h * rows);
    for (index, image) in images.iter().enumerate() {
        let index = index as u32;
        let (x, y) = ((index % cols) * w, (index / cols) * h);
        image::imageops::replace(&mut out, image, i64::from(x), i64::from(y));
    }
    out
}

/// Image `cell` of a [`grid`] of `count` images (None when the grid has no such cell).
pub fn grid_cell(grid: &RgbImage, count: u32, cell: u32) -> Option<RgbImage> {
    let (cols, rows) = crate::domain::grid_shape(count);
    if cell >= count.max(1) {
        return None;
    }
    let (w, h) = (grid.width() / cols, grid.height() / rows);
    let (x, y) = ((cell % cols) * w, (cell / cols) * h);
    Some(image::imageops::crop_imm(grid, x, y, w, h).to_image())
}

/// Encodes an RGB image as PNG.
pub fn encode_png(image: &RgbImage) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(
        image.as_raw(),
        image.width(),
        image.height(),
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(out)
}

/// The PNG file signature.
const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// `png` with a text chunk `keyword` = `text` added after its header: `tEXt` when the text is
/// Latin-1 (the PNG standard's text encoding), else `iTXt` (UTF-8) — as Pillow writes them, so
/// tools that read Stable Diffusion's `parameters` chunk find it either way. None when `png` is
/// not a PNG starting with its `IHDR` chunk, or `keyword` is not 1–79 printable Latin-1
/// characters.
pub fn with_text(png: &[u8], keyword: &str, text: &str) -> Option<Vec<u8>> {
    let keyword_ok = (1..=79).contains(&keyword.len())
        && keyword.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && !keyword.starts_with(' ')
        && !keyword.ends_with(' ');
    if !keyword_ok || png.get(..8)? != SIGNATURE || png.get(12..16)? != b"IHDR" {
        return None;
    }
    let ihdr_len = u32::from_be_bytes(png.get(8..12)?.try_into().ok()?) as usize;
    // Signature, then IHDR: length, type, data, CRC.
    let after_ihdr = 8 + 12 + ihdr_len;
    if png.len() < after_ihdr {
        return None;
    }
    let latin1: Option<Vec<u8>> = text
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect();
    let (kind, data): (&[u8; 4], Vec<u8>) = match latin1 {
        Some(bytes) => {
            let mut data = Vec::with_capacity(keyword.len() + 1 + bytes.len());
            data.extend_from_slice(keyword.as_bytes());
            data.push(0);
            data.extend_from_slice(&bytes);
            (b"tEXt", data)
        }
        None => {
            // keyword, NUL, uncompressed (0, 0), no language tag, NUL, no translated keyword,
            // NUL, the UTF-8 text.
            let mut data = Vec::with_capacity(keyword.len() + 5 + text.len());
            data.extend_from_slice(keyword.as_bytes());
            data.extend_from_slice(&[0, 0, 0, 0, 0]);
            data.extend_from_slice(text.as_bytes());
            (b"iTXt", data)
        }
    };
    let length = u32::try_from(data.len()).ok()?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(&data);
    let mut out = Vec::with_capacity(png.len() + data.len() + 12);
    out.extend_from_slice(&png[..after_ihdr]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(&data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
    out.extend_from_slice(&png[after_ihdr..]);
    Some(out)
}

/// The bytes [`with_text`] adds for `keyword` and `text` (at most).
pub fn text_chunk_len(keyword: &str, text: &str) -> usize {
    12 + keyword.len() + 5 + text.len()
}

/// A PNG that fits the limit, and whether it had to be shrunk.
#[derive(Debug, Clone)]
pub struct FittedPng {
    /// The PNG bytes.
    pub bytes: Vec<u8>,
    /// Width of the encoded image.
    pub width: u32,
    /// Height of the encoded image.
    pub height: u32,
    /// True when the image was scaled down to fit.
    pub downscaled: bool,
}

/// Returns `png` if it fits in `limit` bytes, else the image scaled down step by step until it
/// does. None when even a 16-pixel-wide version is too large (a limit no real server has).
///
/// CPU-bound: call it off the async runtime.
pub fn fit_png(png: &[u8], limit: u64) -> Result<Option<FittedPng>, image::ImageError> {
    let decoded = image::load_from_memory_with_format(png, image::ImageFormat::Png)?.to_rgb8();
    let (width, height) = decoded.dimensions();
    if png.len() as u64 <= limit {
        return Ok(Some(FittedPng {
            bytes: png.to_vec(),
            width,
            height,
            downscaled: false,
        }));
    }
    let mut scale = 0.75_f64;
    loop {
        let w = ((f64::from(width) * scale).round() as u32).max(1);
        let h = ((f64::from(height) * scale).round() as u32).max(1);
        if w < 16 {
            return Ok(None);
        }
        let smaller =
            image::imageops::resize(&decoded, w, h, image::imageops::FilterType::Lanczos3);
        let bytes = encode_png(&smaller)?;
        if bytes.len() as u64 <= limit {
            return Ok(Some(FittedPng {
                bytes,
                width: w,
                height: h,
                downscaled: true,
            }));
        }
        scale *= 0.75;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_cell_is_the_image_put_there() {
        for count in 1..=4_u32 {
            let images: Vec<RgbImage> = (0..count)
                .map(|i| {
                    RgbImage::from_fn(6, 4, |x, y| image::Rgb([i as u8 * 50, x as u8, y as u8]))
                })
                .collect();
            let out = grid(&images);
            let (cols, rows) = crate::domain::grid_shape(count);
            assert_eq!(out.dimensions(), (6 * cols, 4 * rows), "count {count}");
            for (cell, image) in images.iter().enumerate() {
                assert_eq!(
                    grid_cell(&out, count, cell as u32).as_ref(),
                    Some(image),
                    "count {count} cell {cell}"
                );
            }
            assert_eq!(grid_cell(&out, count, count), None);
        }
    }

    /// The text chunks the `png` crate (the decoder `image` uses) reads back.
    fn read_texts(png: &[u8]) -> Vec<(String, String)> {
        let decoder = ::png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().expect("a valid PNG");
        let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
        reader.next_frame(&mut pixels).expect("the pixels decode");
        reader.finish().expect("the rest of the file reads");
        let info = reader.info();
        let mut out: Vec<(String, String)> = info
            .uncompressed_latin1_text
            .iter()
            .map(|t| (t.keyword.clone(), t.text.clone()))
            .collect();
        out.extend(
            info.utf8_text
                .iter()
                .map(|t| (t.keyword.clone(), t.get_text().expect("utf-8 text"))),
        );
        out
    }

    #[test]
    fn text_chunks_are_read_back_by_the_png_decoder() {
        let image = RgbImage::from_fn(8, 6, |x, y| image::Rgb([x as u8 * 30, y as u8 * 40, 7]));
        let png = encode_png(&image).expect("encode");
        for text in [
            "a red cat\nSteps: 4, Seed: 7, Size: 8x6, Model: tiny",
            "un café crème",                // Latin-1: tEXt
            "夜の港、水彩\nSeed: 1 — ok ✓", // not Latin-1: iTXt
        ] {
            let with = with_text(&png, "parameters", text).expect("a PNG");
            assert!(with.len() <= png.len() + text_chunk_len("parameters", text));
            assert_eq!(
                read_texts(&with),
                vec![("parameters".to_owned(), text.to_owned())]
            );
            // The pixels are untouched.
            let decoded = image::load_from_memory(&with).expect("decodes").to_rgb8();
            assert_eq!(decoded, image);
        }
        assert!(read_texts(&png).is_empty());
        assert!(with_text(b"not a png at all", "parameters", "x").is_none());
        assert!(with_text(&png, "", "x").is_none());
        assert!(with_text(&png[..20], "parameters", "x").is_none());
    }

    #[test]
    fn side_by_side_keeps_both_halves() {
        let left = RgbImage::from_pixel(4, 3, image::Rgb([255, 0, 0]));
        let right = RgbImage::from_pixel(5, 2, image::Rgb([0, 0, 255]));
        let out = side_by_side(&left, &right);
        assert_eq!((out.width(), out.height()), (4 + COMPARE_GAP + 5, 3));
        assert_eq!(out.get_pixel(3, 2).0, [255, 0, 0]);
        assert_eq!(out.get_pixel(4, 0).0, [24, 24, 28]);
        assert_eq!(out.get_pixel(4 + COMPARE_GAP, 0).0, [0, 0, 255]);
        assert_eq!(out.get_pixel(4 + COMPARE_GAP + 4, 1).0, [0, 0, 255]);
        assert_eq!(
            out.get_pixel(4 + COMPARE_GAP, 2).0,
            [24, 24, 28],
            "below the shorter half"
        );
    }

    fn noise(w: u32, h: u32) -> RgbImage {
        let mut state = 12345u32;
        RgbImage::from_fn(w, h, |_, _| {
            let mut px = [0u8; 3];
            for c in &mut px {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *c = (state >> 16) as u8;
            }
            image::Rgb(px)
        })
    }

    #[test]
    fn small_enough_png_is_kept() {
        let png = encode_png(&noise(32, 32)).expect("encode");
        let fitted = fit_png(&png, 10 * 1024 * 1024).expect("fit").expect("fits");
        assert_eq!(fitted.bytes, png);
        assert!(!fitted.downscaled);
    }

    #[test]
    fn large_png_is_downscaled_under_the_limit() {
        let png = encode_png(&noise(128, 128)).expect("encode");
        let limit = png.len() as u64 / 3;
        let fitted = fit_png(&png, limit).expect("fit").expect("fits");
        assert!(fitted.bytes.len() as u64 <= limit);
        assert!(fitted.downscaled && fitted.width < 128);
        let back = image::load_from_memory(&fitted.bytes).expect("decodes");
        assert_eq!(back.width(), fitted.width);
    }

    #[test]
    fn impossible_limit_gives_none() {
        let png = encode_png(&noise(64, 64)).expect("encode");
        assert!(fit_png(&png, 10).expect("fit").is_none());
    }
}
