//! The pages and their assets, compiled into the binary (no build step, no
//! CDN), and the join QR code.

use super::session;
use crate::error::ApiError;
use crate::registry::normalize_code;
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

/// (path under /static or /media, content type, bytes)
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "static/client.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/client.js"),
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
        "static/dashboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/dashboard.js"),
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
];

const PLAYER: &str = include_str!("../../static/player.html");
const MC: &str = include_str!("../../static/mc.html");
const DISPLAY: &str = include_str!("../../static/display.html");
const DASHBOARD: &str = include_str!("../../static/dashboard.html");

fn html(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' https: data:; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:",
        ))
        .body(body)
}

pub async fn player() -> HttpResponse {
    html(PLAYER)
}

pub async fn mc() -> HttpResponse {
    html(MC)
}

pub async fn display() -> HttpResponse {
    html(DISPLAY)
}

pub async fn dashboard() -> HttpResponse {
    html(DASHBOARD)
}

pub async fn asset(req: HttpRequest) -> HttpResponse {
    let path = req.path().trim_start_matches('/');
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, kind, bytes)) => HttpResponse::Ok()
            .content_type(*kind)
            .insert_header(("Cache-Control", "no-cache"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(*bytes),
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
