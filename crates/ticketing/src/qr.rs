//! A ticket's code as a QR image, for the door: SVG for screens and print, PNG for wallets and
//! mail. Encoded with the `qrcode` crate at medium error correction (a phone screen with a
//! crack still scans); the PNG is drawn from the same modules and encoded by `image`.

use image::{GrayImage, ImageFormat, Luma};
use qrcode::{Color, EcLevel, QrCode};

/// Pixels per module of the PNG: a 22-character code is a 25 × 25 version-2 symbol, which with
/// its quiet zone comes to 264 pixels square, plenty for any scanner.
const PNG_SCALE: u32 = 8;
/// Modules of white border on each side, as the standard asks.
const QUIET_ZONE: u32 = 4;

fn encode(code: &str) -> Result<QrCode, qrcode::types::QrError> {
    QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M)
}

/// The code as an SVG document.
pub fn svg(code: &str) -> Result<String, String> {
    Ok(encode(code)
        .map_err(|e| e.to_string())?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

/// The code as a PNG image.
pub fn png(code: &str) -> Result<Vec<u8>, String> {
    let qr = encode(code).map_err(|e| e.to_string())?;
    let width = u32::try_from(qr.width()).map_err(|e| e.to_string())?;
    let colors = qr.to_colors();
    let side = (width + 2 * QUIET_ZONE) * PNG_SCALE;
    let image = GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = (x / PNG_SCALE, y / PNG_SCALE);
        let inside = (QUIET_ZONE..QUIET_ZONE + width).contains(&mx) && (QUIET_ZONE..QUIET_ZONE + width).contains(&my);
        let dark = inside
            && usize::try_from((my - QUIET_ZONE) * width + (mx - QUIET_ZONE))
                .ok()
                .and_then(|i| colors.get(i))
                .is_some_and(|c| *c == Color::Dark);
        Luma([if dark { 0 } else { 255 }])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Png).map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}
