//! Images members hand over (`/persona add-image`): what is accepted before anything is
//! decoded, and decoding with limits, so a hostile file costs nothing. Pure; table-tested.
//!
//! - **Type**: PNG, JPEG or WebP, by the declared content type *and* by the bytes themselves.
//! - **Size**: at most [`UploadLimits::max_bytes`] (checked on the declared size, then again
//!   while downloading).
//! - **Pixels**: the header's dimensions are read first; more than
//!   [`UploadLimits::max_pixels`] or a side over [`UploadLimits::max_side`] is refused without
//!   decoding (a 20000×20000 "bomb" allocates nothing); the decoder also runs under the
//!   `image` crate's allocation limit.
//! - **Integrity**: a truncated or corrupt file is refused.

use std::io::Cursor;

/// Limits on uploaded images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Largest file (bytes).
    pub max_bytes: u64,
    /// Most pixels (width × height).
    pub max_pixels: u64,
    /// Longest side (pixels).
    pub max_side: u32,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            // 16 MP: a 4096×4096 photo; decoding it takes 64 MiB.
            max_pixels: 16_000_000,
            max_side: 10_000,
        }
    }
}

/// Why an upload was refused (each has a message for the member).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// Not a PNG, JPEG or WebP.
    #[error("not a PNG, JPEG or WebP image")]
    Type,
    /// Larger than the limit.
    #[error("file larger than {max_bytes} bytes")]
    TooLarge {
        /// The limit.
        max_bytes: u64,
    },
    /// Too many pixels (or a side too long).
    #[error("{width}×{height} pixels is over the limit")]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// Truncated or corrupt.
    #[error("unreadable image: {0}")]
    Unreadable(String),
}

const ACCEPTED: [&str; 3] = ["image/png", "image/jpeg", "image/webp"];

/// Checks what the attachment declares, before downloading it.
pub fn check_declared(
    content_type: Option<&str>,
    size: u64,
    limits: &UploadLimits,
) -> Result<(), UploadError> {
    let declared = content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if !ACCEPTED.contains(&declared.as_str()) {
        return Err(UploadError::Type);
    }
    if size > limits.max_bytes {
        return Err(UploadError::TooLarge {
            max_bytes: limits.max_bytes,
        });
    }
    Ok(())
}

/// Decodes `bytes` within `limits` (see the module docs).
pub fn decode(bytes: &[u8], limits: &UploadLimits) -> Result<image::DynamicImage, UploadError> {
    if bytes.len() as u64 > limits.max_bytes {
        return Err(UploadError::TooLarge {
            max_bytes: limits.max_bytes,
        });
    }
    let reader = || {
        image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| UploadError::Unreadable(e.to_string()))
    };
    let format = reader()?.format().ok_or(UploadError::Type)?;
    if !matches!(
        format,
        image::ImageFormat::Png | image::ImageFormat::Jpeg | image::ImageFormat::WebP
    ) {
        return Err(UploadError::Type);
    }
    let (width, height) = reader()?
        .into_dimensions()
        .map_err(|e| UploadError::Unreadable(e.to_string()))?;
    if width == 0
        || height == 0
        || width > limits.max_side
        || height > limits.max_side
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(UploadError::TooManyPixels { width, height });
    }
    let mut reader = reader()?;
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_side);
    decoder_limits.max_image_height = Some(limits.max_side);
    // RGBA8 of the largest accepted image, plus the decoder's own buffers.
    decoder_limits.max_alloc = Some(limits.max_pixels * 4 * 2);
    reader.limits(decoder_limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => UploadError::TooManyPixels { width, height },
        other => UploadError::Unreadable(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(format: image::ImageFormat, w: u32, h: u32) -> Vec<u8> {
        let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([x as u8, y as u8, 128])
        }));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).expect("encode");
        out.into_inner()
    }

    /// A PNG whose header claims `w`×`h` but holds (almost) no data: a decompression bomb's
    /// signature without the bomb.
    fn png_header_only(w: u32, h: u32) -> Vec<u8> {
        let mut png = encoded(image::ImageFormat::Png, 1, 1);
        png[16..20].copy_from_slice(&w.to_be_bytes());
        png[20..24].copy_from_slice(&h.to_be_bytes());
        // The IHDR chunk's CRC (over its type and data), so only the size is a lie.
        let mut crc = flate2::Crc::new();
        crc.update(&png[12..29]);
        png[29..33].copy_from_slice(&crc.sum().to_be_bytes());
        png
    }

    #[test]
    fn accepts_png_jpeg_webp() {
        let limits = UploadLimits::default();
        for format in [
            image::ImageFormat::Png,
            image::ImageFormat::Jpeg,
            image::ImageFormat::WebP,
        ] {
            let img = decode(&encoded(format, 40, 30), &limits).expect("decodes");
            assert_eq!((img.width(), img.height()), (40, 30), "{format:?}");
        }
    }

    #[test]
    fn refuses_what_it_must() {
        let limits = UploadLimits::default();
        let png = encoded(image::ImageFormat::Png, 64, 64);
        // Truncated.
        assert!(matches!(
            decode(&png[..png.len() / 2], &limits),
            Err(UploadError::Unreadable(_))
        ));
        // Not an image at all, or another format.
        assert_eq!(
            decode(b"hello, world", &limits).unwrap_err(),
            UploadError::Type
        );
        assert_eq!(
            decode(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", &limits).unwrap_err(),
            UploadError::Type
        );
        // A 20000×20000 header is refused before any allocation.
        assert_eq!(
            decode(&png_header_only(20_000, 20_000), &limits).unwrap_err(),
            UploadError::TooManyPixels {
                width: 20_000,
                height: 20_000
            }
        );
        // Too many bytes.
        let small = UploadLimits {
            max_bytes: 100,
            ..limits
        };
        assert_eq!(
            decode(&png, &small).unwrap_err(),
            UploadError::TooLarge { max_bytes: 100 }
        );
        // Declared type and size.
        assert_eq!(check_declared(Some("image/png"), 1000, &limits), Ok(()));
        assert_eq!(
            check_declared(Some("image/jpeg; charset=x"), 1000, &limits),
            Ok(())
        );
        assert_eq!(
            check_declared(Some("application/pdf"), 1000, &limits),
            Err(UploadError::Type)
        );
        assert_eq!(check_declared(None, 1000, &limits), Err(UploadError::Type));
        assert_eq!(
            check_declared(Some("image/webp"), 30 * 1024 * 1024, &limits),
            Err(UploadError::TooLarge {
                max_bytes: limits.max_bytes
            })
        );
    }
}
