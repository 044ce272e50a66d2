//! Uploaded images: the type is decided by the content (magic bytes), never by the name or the
//! declared type; the pixel count is read from the header (with a small memory cap) and checked
//! before anything is decoded (decompression bombs); decoding runs on a bounded number of
//! workers; stored images are scaled to a maximum side and re-encoded without their metadata
//! (EXIF, GPS); resizing is done with `fast_image_resize`.

use crate::error::Internal;
use fast_image_resize::images::Image;
use fast_image_resize::{PixelType, ResizeOptions, Resizer};
use image::{ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits};
use std::io::{BufRead, Cursor, Seek};
use std::sync::Arc;
use tokio::sync::Semaphore;

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
    /// More pixels than we decode (read from the header, before any decoding).
    #[error("the image has {width}×{height} pixels; at most {max} pixels are accepted")]
    TooManyPixels {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// The limit.
        max: u64,
    },
    /// Claims to be an image but does not decode, or exceeds the limits.
    #[error("the image cannot be read: {0}")]
    Invalid(String),
}

/// Largest accepted width or height, whatever the pixel limit.
pub const MAX_DIMENSION: u32 = 16_384;

/// Memory reading a header may take: decoders inflate what comes before the pixels (a PNG's
/// ICC profile, say) while they look for the dimensions, and a tiny file can ask for hundreds of
/// megabytes there.
const HEADER_ALLOC: u64 = 16 * 1024 * 1024;

/// A reader for the header of an image of `kind`, capped at [`HEADER_ALLOC`] bytes of memory.
fn header_reader<R: BufRead + Seek>(reader: R, kind: ImageKind) -> ImageReader<R> {
    let mut reader = ImageReader::with_format(reader, kind.format());
    let mut limits = Limits::default();
    limits.max_alloc = Some(HEADER_ALLOC);
    reader.limits(limits);
    reader
}

/// Reads width and height from the header of an image of `kind` (what comes before the pixel
/// data, within [`HEADER_ALLOC`] bytes of memory; no pixel is decoded) and refuses more than
/// `max_pixels`. This is the cheap check before any decoding: an 8000×8000 PNG of zeros is a
/// few hundred kilobytes on the wire but 256 MB once decoded.
pub fn check_header(reader: impl BufRead + Seek, kind: ImageKind, max_pixels: u64) -> Result<(u32, u32), ImageError> {
    let (width, height) =
        header_reader(reader, kind).into_dimensions().map_err(|e| ImageError::Invalid(e.to_string()))?;
    if u64::from(width) * u64::from(height) > max_pixels || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(ImageError::TooManyPixels { width, height, max: max_pixels });
    }
    if width == 0 || height == 0 {
        return Err(ImageError::Invalid("the image has no pixels".into()));
    }
    Ok((width, height))
}

/// What [`clean`] does with an image.
#[derive(Debug, Clone, Copy)]
pub struct CleanOptions {
    /// Refuse images with more pixels than this (checked from the header first).
    pub max_pixels: u64,
    /// Scale the stored image down so that neither side exceeds this.
    pub max_side: u32,
    /// Also make a square JPEG thumbnail of this side.
    pub thumbnail: Option<u32>,
}

/// An image as it is stored: upright, at most `max_side`, re-encoded without its metadata.
#[derive(Debug)]
pub struct Clean {
    /// The kind (unchanged from the upload).
    pub kind: ImageKind,
    /// The re-encoded file: no EXIF, GPS, XMP, ICC or text chunks, nothing appended.
    pub bytes: Vec<u8>,
    /// Width and height as stored.
    pub dimensions: (u32, u32),
    /// The thumbnail, when asked for.
    pub thumbnail: Option<Vec<u8>>,
}

/// Decodes `bytes` (after the header check), applies the EXIF orientation (so the picture stays
/// upright once the EXIF is gone), scales it down to `max_side` and re-encodes it in the same
/// format. Re-encoding rather than cutting metadata segments out also drops anything hidden after
/// the image data (polyglot files). Only encoded bytes leave: the decoded pixels are freed here.
/// CPU- and memory-heavy: call it through [`ImageWorkers::run`].
pub fn clean(bytes: &[u8], options: CleanOptions) -> Result<Clean, ImageError> {
    let kind = ImageKind::sniff(bytes).ok_or(ImageError::UnsupportedType)?;
    check_header(Cursor::new(bytes), kind, options.max_pixels)?;
    let invalid = |e: image::ImageError| ImageError::Invalid(e.to_string());
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(options.max_pixels.saturating_mul(8).max(64 * 1024 * 1024));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(invalid)?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = image::DynamicImage::from_decoder(decoder).map_err(invalid)?;
    image.apply_orientation(orientation);
    let image = fit(image, options.max_side)?;
    let bytes = encode(&image, kind).map_err(invalid)?;
    let thumbnail = options.thumbnail.map(|size| thumbnail(&image, size)).transpose()?;
    Ok(Clean { kind, bytes, dimensions: (image.width(), image.height()), thumbnail })
}

/// `image` scaled down (aspect kept) so that neither side exceeds `max_side`.
fn fit(image: image::DynamicImage, max_side: u32) -> Result<image::DynamicImage, ImageError> {
    let (w, h) = (image.width(), image.height());
    if w.max(h) <= max_side.max(1) {
        return Ok(image);
    }
    let scale = f64::from(max_side.max(1)) / f64::from(w.max(h));
    // Rounded and at least 1: the results fit in u32 because they are below the originals.
    let side = |v: u32| ((f64::from(v) * scale).round() as u32).clamp(1, max_side.max(1));
    let (nw, nh) = (side(w), side(h));
    let fail = |e: &dyn std::fmt::Display| ImageError::Invalid(e.to_string());
    // Eight-bit RGB(A), the usual decodes, is resized as it is: a converted copy of a
    // 12-megapixel photo is another 36 MB.
    let alpha = image.color().has_alpha();
    let src = match image {
        image::DynamicImage::ImageRgb8(_) | image::DynamicImage::ImageRgba8(_) => image,
        other if alpha => image::DynamicImage::ImageRgba8(other.to_rgba8()),
        other => image::DynamicImage::ImageRgb8(other.to_rgb8()),
    };
    if alpha {
        let mut dst = Image::new(nw, nh, PixelType::U8x4);
        Resizer::new().resize(&src, &mut dst, None).map_err(|e| fail(&e))?;
        let buffer = image::RgbaImage::from_raw(nw, nh, dst.into_vec()).ok_or_else(|| fail(&"resize"))?;
        Ok(image::DynamicImage::ImageRgba8(buffer))
    } else {
        let mut dst = Image::new(nw, nh, PixelType::U8x3);
        Resizer::new().resize(&src, &mut dst, None).map_err(|e| fail(&e))?;
        let buffer = image::RgbImage::from_raw(nw, nh, dst.into_vec()).ok_or_else(|| fail(&"resize"))?;
        Ok(image::DynamicImage::ImageRgb8(buffer))
    }
}

fn encode(image: &image::DynamicImage, kind: ImageKind) -> image::ImageResult<Vec<u8>> {
    let mut out = Vec::new();
    let (w, h) = (image.width(), image.height());
    match kind {
        ImageKind::Jpeg => {
            let rgb = image.to_rgb8();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).write_image(
                &rgb,
                w,
                h,
                image::ExtendedColorType::Rgb8,
            )?;
        }
        ImageKind::Png => image.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)?,
        // The WebP encoder of `image` is lossless only; the file may grow, the picture does not change.
        ImageKind::Webp if image.color().has_alpha() => {
            let rgba = image.to_rgba8();
            image::codecs::webp::WebPEncoder::new_lossless(&mut out).write_image(
                &rgba,
                w,
                h,
                image::ExtendedColorType::Rgba8,
            )?;
        }
        ImageKind::Webp => {
            let rgb = image.to_rgb8();
            image::codecs::webp::WebPEncoder::new_lossless(&mut out).write_image(
                &rgb,
                w,
                h,
                image::ExtendedColorType::Rgb8,
            )?;
        }
    }
    Ok(out)
}

/// A JPEG thumbnail of `image` that covers `size`×`size` (centre-cropped).
fn thumbnail(image: &image::DynamicImage, size: u32) -> Result<Vec<u8>, ImageError> {
    let rgb = image::DynamicImage::ImageRgb8(image.to_rgb8());
    let mut dst = Image::new(size, size, PixelType::U8x3);
    let options = ResizeOptions::new().fit_into_destination(Some((0.5, 0.5)));
    Resizer::new().resize(&rgb, &mut dst, &options).map_err(|e| ImageError::Invalid(e.to_string()))?;
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .write_image(dst.buffer(), size, size, image::ExtendedColorType::Rgb8)
        .map_err(|e| ImageError::Invalid(e.to_string()))?;
    Ok(out)
}

/// Runs image work (header checks and decoding) on the blocking pool, a bounded number of jobs
/// at a time: decoding is CPU- and memory-heavy, and a burst of uploads must queue rather than
/// take every core and gigabytes of memory at once.
#[derive(Debug, Clone)]
pub struct ImageWorkers {
    permits: Arc<Semaphore>,
}

impl ImageWorkers {
    /// Workers that run at most `concurrency` jobs at once.
    pub fn new(concurrency: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(concurrency.max(1))) }
    }

    /// Runs `job` once a slot is free.
    pub async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, Internal> {
        let _permit = self.permits.acquire().await.map_err(Internal::new)?;
        tokio::task::spawn_blocking(job).await.map_err(Internal::new)
    }

    /// Jobs that may start now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
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

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    const OPTIONS: CleanOptions = CleanOptions { max_pixels: 40_000_000, max_side: 4096, thumbnail: None };

    #[test]
    fn thumbnails_are_square_jpegs_and_big_images_are_scaled_down() {
        let options = CleanOptions { max_side: 100, thumbnail: Some(64), ..OPTIONS };
        let clean = clean(&png(300, 120), options).unwrap();
        assert_eq!((clean.kind, clean.dimensions), (ImageKind::Png, (100, 40)));
        let stored = image::load_from_memory(&clean.bytes).unwrap();
        assert_eq!((stored.width(), stored.height()), (100, 40));
        let thumb = clean.thumbnail.unwrap();
        assert_eq!(ImageKind::sniff(&thumb), Some(ImageKind::Jpeg));
        let decoded = image::load_from_memory(&thumb).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (64, 64));
    }

    #[test]
    fn metadata_and_trailers_are_stripped() {
        // (JPEG EXIF, GPS and orientation are covered end to end by the avatar tests.)
        // A PNG text chunk and bytes appended after the end of the image do not survive.
        let mut png_bytes = png(8, 8);
        let iend = png_bytes.len() - 12;
        let text = b"tEXtComment\0secret location";
        let mut chunk = u32::try_from(text.len() - 4).unwrap().to_be_bytes().to_vec();
        chunk.extend_from_slice(text);
        chunk.extend_from_slice(&[0, 0, 0, 0]); // the CRC is not checked by the decoder
        png_bytes.splice(iend..iend, chunk);
        png_bytes.extend_from_slice(b"<html>polyglot</html>");
        let clean = super::clean(&png_bytes, OPTIONS).unwrap();
        assert!(!contains(&clean.bytes, b"secret location") && !contains(&clean.bytes, b"polyglot"));
    }

    #[test]
    fn pixel_count_is_checked_from_the_header() {
        // A valid 8000×8000 header (over pixel data for one pixel) is refused from the chunks
        // before the pixel data: nothing is decoded.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&8_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&8_000u32.to_be_bytes());
        let crc = crc32fast::hash(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        let refused = check_header(Cursor::new(&bomb), ImageKind::Png, 40_000_000);
        assert!(matches!(refused, Err(ImageError::TooManyPixels { width: 8000, height: 8000, .. })), "{refused:?}");
        assert!(matches!(clean(&bomb, OPTIONS), Err(ImageError::TooManyPixels { .. })));
        assert_eq!(check_header(Cursor::new(&png(30, 20)), ImageKind::Png, 600).unwrap(), (30, 20));
        assert!(check_header(Cursor::new(&png(30, 20)), ImageKind::Png, 599).is_err());
    }

    #[test]
    fn a_header_cannot_ask_for_much_memory() {
        // A 1×1 PNG whose ICC profile inflates to 64 MiB: small on the wire, and decoders inflate
        // the profile while they look for the dimensions.
        use std::io::Write;
        let mut profile = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        profile.write_all(&vec![0u8; 64 * 1024 * 1024]).unwrap();
        let mut data = b"icc\0\0".to_vec();
        data.extend_from_slice(&profile.finish().unwrap());
        let mut chunk = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
        let mut typed = b"iCCP".to_vec();
        typed.extend_from_slice(&data);
        chunk.extend_from_slice(&typed);
        chunk.extend_from_slice(&crc32fast::hash(&typed).to_be_bytes());
        let mut bomb = png(1, 1);
        bomb.splice(33..33, chunk);
        assert!(bomb.len() < 200 * 1024, "{} bytes", bomb.len());
        // Within the cap the profile is dropped (the decoder gives up on it) and the header
        // still reads; without the cap the 64 MiB would be inflated and kept.
        let mut decoder = header_reader(Cursor::new(&bomb), ImageKind::Png).into_decoder().unwrap();
        let kept = decoder.icc_profile().unwrap().map_or(0, |p| p.len());
        assert!(kept < 64 * 1024 * 1024, "the whole profile was inflated");
        assert_eq!(check_header(Cursor::new(&bomb), ImageKind::Png, 40_000_000).unwrap(), (1, 1));
    }

    #[test]
    fn broken_images_are_refused() {
        let mut broken = png(10, 10);
        broken.truncate(30);
        assert!(matches!(clean(&broken, OPTIONS), Err(ImageError::Invalid(_))));
        assert!(matches!(clean(b"hello", OPTIONS), Err(ImageError::UnsupportedType)));
    }

    #[tokio::test]
    async fn image_work_is_bounded() {
        let workers = ImageWorkers::new(1);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let busy = workers.clone();
        let first = tokio::spawn(async move { busy.run(move || rx.recv().unwrap()).await });
        while workers.available() > 0 {
            tokio::task::yield_now().await;
        }
        let second = tokio::spawn({
            let w = workers.clone();
            async move { w.run(|| 2).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "the second job waits for the first");
        tx.send(()).unwrap();
        first.await.unwrap().unwrap();
        assert_eq!(second.await.unwrap().unwrap(), 2);
    }
}
