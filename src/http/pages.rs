//! The pages and their assets, compiled into the binary (no build step, no
//! CDN), and the join QR code.

use super::session;
use crate::error::ApiError;
use crate::registry::normalize_code;
use crate::AppState;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use flate2::{write::GzEncoder, Compression};
use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;

/// (path under /static or /media, content type, bytes). Assets that others
/// reference come before the assets that reference them: fingerprinted URLs
/// are substituted in that order (see [`built`]).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "static/client.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/client.js"),
    ),
    (
        "static/style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/style.css"),
    ),
    (
        "static/example-quiz.json",
        "application/json",
        include_bytes!("../../examples/friday-quiz.json"),
    ),
    (
        "media/eiffel.svg",
        "image/svg+xml",
        include_bytes!("../../static/media/eiffel.svg"),
    ),
    (
        "media/bridge.svg",
        "image/svg+xml",
        include_bytes!("../../static/media/bridge.svg"),
    ),
    (
        "static/player-teams.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/player-teams.js"),
    ),
    (
        "static/mc-teams.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/mc-teams.js"),
    ),
    (
        "static/player.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/player.js"),
    ),
    (
        "static/mc.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/mc.js"),
    ),
    (
        "static/display.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/display.js"),
    ),
    (
        "static/editor-form.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/editor-form.js"),
    ),
    (
        "static/editor-preview.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/editor-preview.js"),
    ),
    (
        "static/editor.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/editor.js"),
    ),
    (
        "static/dashboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/dashboard.js"),
    ),
];

const PLAYER: &str = include_str!("../../static/player.html");
const MC: &str = include_str!("../../static/mc.html");
const DISPLAY: &str = include_str!("../../static/display.html");
const DASHBOARD: &str = include_str!("../../static/dashboard.html");
const EDITOR: &str = include_str!("../../static/editor.html");

/// One servable file, prepared once: its bytes with fingerprinted URLs
/// substituted, the same gzipped (when that is smaller), and its ETag.
struct Prepared {
    kind: &'static str,
    body: Bytes,
    gzip: Option<Bytes>,
    etag: String,
}

struct Built {
    /// Plain and fingerprinted paths (without the leading slash) -> (asset, fingerprinted?)
    assets: HashMap<String, (usize, bool)>,
    files: Vec<Prepared>,
    pages: [Prepared; 5],
}

/// FNV-1a, 64 bits: a stable content hash for fingerprints and ETags.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn prepare(kind: &'static str, body: Vec<u8>) -> Prepared {
    let etag = format!("\"{:016x}\"", fnv(&body));
    let gzip = (body.len() > 256)
        .then(|| {
            let mut enc = GzEncoder::new(Vec::new(), Compression::best());
            enc.write_all(&body).ok()?;
            enc.finish().ok()
        })
        .flatten()
        .filter(|z| z.len() < body.len())
        .map(Bytes::from);
    Prepared {
        kind,
        body: Bytes::from(body),
        gzip,
        etag,
    }
}

/// Text assets and pages refer to each other by plain URL (`/static/client.js`);
/// here every such reference becomes the referenced file's fingerprinted URL
/// (`/static/client.0123abcd.js`), which is served with an immutable cache
/// header, so a reload revalidates only the page itself.
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut renames: Vec<(String, String)> = Vec::new();
        let mut assets = HashMap::new();
        let mut files = Vec::new();
        let rewrite = |text: &str, renames: &[(String, String)]| {
            let mut out = text.to_string();
            for (from, to) in renames {
                out = out.replace(from.as_str(), to.as_str());
            }
            out
        };
        for (i, (path, kind, bytes)) in ASSETS.iter().enumerate() {
            let body = match std::str::from_utf8(bytes) {
                Ok(t) if !kind.starts_with("image/") => rewrite(t, &renames).into_bytes(),
                _ => bytes.to_vec(),
            };
            let hash = format!("{:08x}", fnv(&body) as u32);
            let fingerprinted = match path.rsplit_once('.') {
                Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
                None => format!("{path}.{hash}"),
            };
            renames.push((format!("/{path}"), format!("/{fingerprinted}")));
            assets.insert(path.to_string(), (i, false));
            assets.insert(fingerprinted, (i, true));
            files.push(prepare(kind, body));
        }
        let page = |src: &str| {
            prepare(
                "text/html; charset=utf-8",
                rewrite(src, &renames).into_bytes(),
            )
        };
        Built {
            assets,
            files,
            pages: [
                page(PLAYER),
                page(MC),
                page(DISPLAY),
                page(DASHBOARD),
                page(EDITOR),
            ],
        }
    })
}

/// Whether the client takes gzip (`Accept-Encoding`, not refused with q=0).
fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut it = part.split(';');
            let name = it.next().unwrap_or("").trim();
            let refused = it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Serves a prepared file: 304 when the client's copy is current, else the
/// body, gzipped when the client takes it.
fn serve(req: &HttpRequest, f: &Prepared, cache: &str) -> HttpResponse {
    let fresh = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == f.etag
        });
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::CACHE_CONTROL, cache.to_string()))
        .insert_header((header::ETAG, f.etag.clone()))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header(("X-Content-Type-Options", "nosniff"));
    if fresh {
        return res.finish();
    }
    res.content_type(f.kind);
    match &f.gzip {
        Some(z) if accepts_gzip(req) => res
            .insert_header((header::CONTENT_ENCODING, "gzip"))
            .body(z.clone()),
        _ => res.body(f.body.clone()),
    }
}

/// Pictures: uploaded ones are same-origin (`/media/...`); the quiz format
/// also allows `http:` and `https:` URLs, so both are allowed here (an
/// `http:` picture on an `https:` page is still the browser's to upgrade).
fn html(req: &HttpRequest, page: usize) -> HttpResponse {
    let mut res = serve(req, &built().pages[page], "no-cache");
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' https: http: data:; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:",
        ),
    );
    res
}

pub async fn player(req: HttpRequest) -> HttpResponse {
    html(&req, 0)
}

pub async fn mc(req: HttpRequest) -> HttpResponse {
    html(&req, 1)
}

pub async fn display(req: HttpRequest) -> HttpResponse {
    html(&req, 2)
}

pub async fn dashboard(req: HttpRequest) -> HttpResponse {
    html(&req, 3)
}

/// The quiz editor (issue 12).
pub async fn editor(req: HttpRequest) -> HttpResponse {
    html(&req, 4)
}

/// `/static/*` and `/media/*`. A fingerprinted URL (`client.0123abcd.js`)
/// never changes content: cached for a year, immutable. A plain URL is
/// revalidated with its ETag.
pub async fn asset(req: HttpRequest) -> HttpResponse {
    let path = req.path().trim_start_matches('/');
    let b = built();
    match b.assets.get(path) {
        Some(&(i, true)) => serve(&req, &b.files[i], "public, max-age=31536000, immutable"),
        Some(&(i, false)) => serve(&req, &b.files[i], "no-cache"),
        None => HttpResponse::NotFound().finish(),
    }
}

/// `GET /api/sessions/{code}/qr.svg`: the join link as a QR code.
pub async fn qr(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let code = normalize_code(&code).ok_or_else(ApiError::not_found)?;
    session(&app, &code).await?;
    let info = req.connection_info();
    let url = format!("{}://{}/join/{code}", info.scheme(), info.host());
    let svg = qrcode::QrCode::new(url.as_bytes())
        .map_err(|_| ApiError::internal())?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "max-age=3600"))
        .body(svg))
}
