//! Uploaded images: the type is decided by the content (magic bytes), never by the name or the
//! declared type; decoding is bounded (dimensions and memory) against decompression bombs; and
//! thumbnails are made with `fast_image_resize`.

use fast_image_resize::images::Image;
use fast_image_resize::{PixelType, ResizeOptions, Resizer};
use image::{ImageEncoder, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// An accepted image type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
    /// WebP.
    Webp,
}

impl ImageKind {
    /// Recognises JPEG, PNG and WebP by their first bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }

    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Png => ImageFormat::Png,
            Self::Webp => ImageFormat::WebP,
        }
    }
}

/// Why an image was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Not JPEG, PNG or WebP.
    #[error("the file is not a JPEG, PNG or WebP image")]
    UnsupportedType,
    /// Claims to be an image but does not decode, or exceeds the limits.
    #[error("the image cannot be read: {0}")]
    Invalid(String),
}

/// Largest accepted width or height.
pub const MAX_DIMENSION: u32 = 8_000;

/// Decodes `bytes` (within limits) and returns a JPEG thumbnail that covers `size`×`size`
/// (centre-cropped), plus the detected kind. CPU-heavy: call it on the blocking pool.
pub fn thumbnail(bytes: &[u8], size: u32) -> Result<(ImageKind, Vec<u8>), ImageError> {
    let kind = ImageKind::sniff(bytes).ok_or(ImageError::UnsupportedType)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| ImageError::Invalid(e.to_string()))?;
    let rgb = image::DynamicImage::ImageRgb8(decoded.to_rgb8());
    let mut dst = Image::new(size, size, PixelType::U8x3);
    let options = ResizeOptions::new().fit_into_destination(Some((0.5, 0.5)));
    Resizer::new().resize(&rgb, &mut dst, &options).map_err(|e| ImageError::Invalid(e.to_string()))?;
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .write_image(dst.buffer(), size, size, image::ExtendedColorType::Rgb8)
        .map_err(|e| ImageError::Invalid(e.to_string()))?;
    Ok((kind, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([(x % 256) as u8, (y % 256) as u8, 0, 255]));
        let mut out = Vec::new();
        image::DynamicImage::ImageRgba8(img).write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn sniffs_by_content() {
        assert_eq!(ImageKind::sniff(&png(2, 2)), Some(ImageKind::Png));
        assert_eq!(ImageKind::sniff(b"\xFF\xD8\xFF\xE0rest"), Some(ImageKind::Jpeg));
        assert_eq!(ImageKind::sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(ImageKind::Webp));
        assert_eq!(ImageKind::sniff(b"<svg xmlns=...>"), None);
        assert_eq!(ImageKind::sniff(b"GIF89a"), None);
    }

    #[test]
    fn thumbnails_are_square_jpegs() {
        let (kind, thumb) = thumbnail(&png(300, 120), 64).unwrap();
        assert_eq!(kind, ImageKind::Png);
        assert_eq!(ImageKind::sniff(&thumb), Some(ImageKind::Jpeg));
        let decoded = image::load_from_memory(&thumb).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (64, 64));
    }

    #[test]
    fn broken_and_oversized_images_are_refused() {
        let mut broken = png(10, 10);
        broken.truncate(30);
        assert!(matches!(thumbnail(&broken, 64), Err(ImageError::Invalid(_))));
        assert!(matches!(thumbnail(b"hello", 64), Err(ImageError::UnsupportedType)));
        // A PNG header declaring 20000×20000 pixels is refused before any large allocation.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&20_000u32.to_be_bytes());
        assert!(thumbnail(&bomb, 64).is_err());
    }
}
