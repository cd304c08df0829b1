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
