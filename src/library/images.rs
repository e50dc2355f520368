//! Uploaded pictures: checked by content (magic bytes, then a real decode),
//! resized for phones when that saves bytes, and named by the SHA-256 of what
//! is stored, so the same picture is stored once and its URL never changes
//! content (served immutable).

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};
use std::io::Cursor;

/// The longest side kept: sharp on any phone and on a 1080p projector.
pub const MAX_SIDE: u32 = 1600;
/// Largest picture decoded, per side (beyond it a small file can be a
/// decompression bomb).
const MAX_DECODE_SIDE: u32 = 12_000;
/// Memory a single decode may take.
const MAX_DECODE_ALLOC: u64 = 400 * 1024 * 1024;

/// The accepted formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    Webp,
    Gif,
}

impl Format {
    /// The file extension images of this format are served under.
    pub fn ext(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpg",
            Format::Webp => "webp",
            Format::Gif => "gif",
        }
    }

    pub fn from_ext(ext: &str) -> Option<Format> {
        match ext {
            "png" => Some(Format::Png),
            "jpg" => Some(Format::Jpeg),
            "webp" => Some(Format::Webp),
            "gif" => Some(Format::Gif),
            _ => None,
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
            Format::Webp => "image/webp",
            Format::Gif => "image/gif",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Png => "PNG",
            Format::Jpeg => "JPEG",
            Format::Webp => "WebP",
            Format::Gif => "GIF",
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Format::Png => ImageFormat::Png,
            Format::Jpeg => ImageFormat::Jpeg,
            Format::Webp => ImageFormat::WebP,
            Format::Gif => ImageFormat::Gif,
        }
    }

    /// The format the bytes say they are, by their magic numbers alone.
    pub fn sniff(b: &[u8]) -> Option<Format> {
        if b.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Format::Png)
        } else if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Format::Jpeg)
        } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
            Some(Format::Gif)
        } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
            Some(Format::Webp)
        } else {
            None
        }
    }
}

/// Why an upload was refused. Each says what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageError {
    #[error("the image is {size} bytes; at most {max} bytes are accepted")]
    TooLarge { size: usize, max: usize },
    #[error("the upload is empty")]
    Empty,
    #[error(
        "SVG images are not accepted (they can carry scripts); upload a PNG, JPEG, WebP or GIF"
    )]
    Svg,
    #[error(
        "not a PNG, JPEG, WebP or GIF image (files are checked by their content, not their name)"
    )]
    NotAnImage,
    #[error("the {0} image is truncated or damaged: {1}")]
    Corrupt(&'static str, String),
    #[error("the image is {0}x{1} pixels; at most {MAX_DECODE_SIDE} pixels a side are accepted")]
    TooManyPixels(u32, u32),
}

/// A checked picture, ready to store.
#[derive(Debug, Clone)]
pub struct Processed {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub width: u32,
    pub height: u32,
    /// Hex SHA-256 of `bytes`.
    pub hash: String,
}

impl Processed {
    /// Where it is served.
    pub fn url(&self) -> String {
        format!("/media/{}.{}", self.hash, self.format.ext())
    }
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Whether a JPEG ends its last scan with an end-of-image marker. Decoders
/// are lenient (a truncated JPEG decodes to a grey bottom half); inside
/// entropy-coded data 0xFF is always followed by 0x00 or a restart marker,
/// so an EOI after the last start-of-scan is the real end.
fn jpeg_complete(b: &[u8]) -> bool {
    let last = |m: u8| b.windows(2).rposition(|w| w[0] == 0xFF && w[1] == m);
    match (last(0xDA), last(0xD9)) {
        (Some(sos), Some(eoi)) => eoi > sos,
        _ => false,
    }
}

fn looks_like_svg(b: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&b[..b.len().min(2048)]).to_ascii_lowercase();
    head.contains("<svg")
        || head
            .trim_start_matches('\u{feff}')
            .trim_start()
            .starts_with("<?xml")
}

/// Checks `raw` and prepares it for storing: refused unless it is a complete
/// PNG, JPEG, WebP or GIF of at most `max_bytes`; resized to [`MAX_SIDE`]
/// when larger and when the result is smaller than the upload (animated GIFs
/// are kept as they are, since resizing would drop the animation).
pub fn process(raw: &[u8], max_bytes: usize) -> Result<Processed, ImageError> {
    if raw.len() > max_bytes {
        return Err(ImageError::TooLarge {
            size: raw.len(),
            max: max_bytes,
        });
    }
    if raw.is_empty() {
        return Err(ImageError::Empty);
    }
    let format = match Format::sniff(raw) {
        Some(f) => f,
        None if looks_like_svg(raw) => return Err(ImageError::Svg),
        None => return Err(ImageError::NotAnImage),
    };
    let corrupt = |e: &dyn std::fmt::Display| ImageError::Corrupt(format.name(), e.to_string());
    if format == Format::Jpeg && !jpeg_complete(raw) {
        return Err(corrupt(&"no end-of-image marker after the last scan"));
    }
    let mut reader = ImageReader::with_format(Cursor::new(raw), format.image_format());
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| corrupt(&e))?;
    let (w, h) = decoder.dimensions();
    if w > MAX_DECODE_SIDE || h > MAX_DECODE_SIDE {
        return Err(ImageError::TooManyPixels(w, h));
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| corrupt(&e))?;
    let keep = |raw: &[u8], w, h| Processed {
        bytes: raw.to_vec(),
        format,
        width: w,
        height: h,
        hash: sha256_hex(raw),
    };
    if w.max(h) <= MAX_SIDE || format == Format::Gif {
        // Browsers apply EXIF orientation themselves; report the shown size.
        let (w, h) = match orientation {
            image::metadata::Orientation::Rotate90
            | image::metadata::Orientation::Rotate270
            | image::metadata::Orientation::Rotate90FlipH
            | image::metadata::Orientation::Rotate270FlipH => (h, w),
            _ => (w, h),
        };
        return Ok(keep(raw, w, h));
    }
    // Re-encoding drops EXIF, so turn the pixels the way EXIF said.
    img.apply_orientation(orientation);
    let small = img.resize(MAX_SIDE, MAX_SIDE, image::imageops::FilterType::Triangle);
    match encode(&small, format) {
        Some(bytes) if bytes.len() < raw.len() => Ok(Processed {
            hash: sha256_hex(&bytes),
            width: small.width(),
            height: small.height(),
            bytes,
            format,
        }),
        _ => Ok(keep(raw, img.width(), img.height())),
    }
}

/// `img` in `format` (JPEG at quality 85, lossless WebP); None if the
/// encoder fails, in which case the upload is kept as it came.
fn encode(img: &DynamicImage, format: Format) -> Option<Vec<u8>> {
    use image::codecs::{jpeg::JpegEncoder, png::PngEncoder, webp::WebPEncoder};
    let mut out = Vec::new();
    let res = match format {
        Format::Jpeg => DynamicImage::ImageRgb8(img.to_rgb8())
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 85)),
        Format::Png => img.write_with_encoder(PngEncoder::new(&mut out)),
        Format::Webp => DynamicImage::ImageRgba8(img.to_rgba8())
            .write_with_encoder(WebPEncoder::new_lossless(&mut out)),
        Format::Gif => return None,
    };
    res.ok().map(|_| out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32, noisy: bool) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            if noisy {
                let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40503)) as u8;
                image::Rgb([v, v.wrapping_mul(7), v.wrapping_add(y as u8)])
            } else {
                image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
            }
        });
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 40]));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
                &mut out, 90,
            ))
            .unwrap();
        out
    }

    #[test]
    fn small_images_are_kept_byte_for_byte() {
        let raw = png(40, 30, false);
        let p = process(&raw, 5 << 20).unwrap();
        assert_eq!((p.format, p.width, p.height), (Format::Png, 40, 30));
        assert_eq!(p.bytes, raw);
        assert_eq!(p.hash, sha256_hex(&raw));
        assert_eq!(p.url(), format!("/media/{}.png", p.hash));
    }

    #[test]
    fn every_accepted_format_is_accepted() {
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            20,
            10,
            image::Rgba([10, 200, 30, 255]),
        ));
        for (fmt, want) in [
            (ImageFormat::Png, Format::Png),
            (ImageFormat::Jpeg, Format::Jpeg),
            (ImageFormat::WebP, Format::Webp),
            (ImageFormat::Gif, Format::Gif),
        ] {
            let mut out = Vec::new();
            let src = if fmt == ImageFormat::Jpeg {
                DynamicImage::ImageRgb8(img.to_rgb8())
            } else {
                img.clone()
            };
            src.write_to(&mut Cursor::new(&mut out), fmt).unwrap();
            let p = process(&out, 5 << 20).unwrap();
            assert_eq!((p.format, p.width, p.height), (want, 20, 10), "{fmt:?}");
            assert_eq!(Format::from_ext(p.format.ext()), Some(want));
        }
    }

    #[test]
    fn large_photos_are_resized_for_phones() {
        let raw = jpeg(3200, 1800);
        let p = process(&raw, 5 << 20).unwrap();
        assert_eq!((p.width, p.height), (1600, 900));
        assert!(p.bytes.len() < raw.len());
        assert_eq!(Format::sniff(&p.bytes), Some(Format::Jpeg));
    }

    #[test]
    fn refusals_say_why() {
        assert!(matches!(
            process(b"hello, I am text", 100),
            Err(ImageError::NotAnImage)
        ));
        let svg = br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
        assert_eq!(process(svg, 1000).unwrap_err(), ImageError::Svg);
        let j = jpeg(64, 64);
        let cut = &j[..j.len() / 2];
        assert!(matches!(
            process(cut, 5 << 20),
            Err(ImageError::Corrupt("JPEG", _))
        ));
        let p = png(64, 64, true);
        assert!(matches!(
            process(&p[..p.len() / 2], 5 << 20),
            Err(ImageError::Corrupt("PNG", _))
        ));
        assert!(matches!(
            process(&p, 10),
            Err(ImageError::TooLarge { max: 10, .. })
        ));
        let mut fake = b"\x89PNG\r\n\x1a\n".to_vec();
        fake.extend_from_slice(&[0; 100]);
        assert!(matches!(process(&fake, 1000), Err(ImageError::Corrupt(..))));
    }
}
