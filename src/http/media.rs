//! Pictures: `POST /api/images` (an upload as the raw body, with a library
//! key) and `GET /media/{hash}.{ext}`, served immutable since the name is
//! the content's SHA-256. The pictures compiled into the binary
//! (`/media/eiffel.svg`) are served by [`super::pages::asset`].

use super::library::{read_body, run, KEY_HEADER};
use crate::error::ApiError;
use crate::library::package::media_ref;
use crate::library::LibraryKey;
use crate::AppState;
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use serde_json::json;

/// `POST /api/images`: 201 `{url, hash, type, width, height, bytes, new}`.
/// Refused (and nothing stored) unless it is a complete PNG, JPEG, WebP or
/// GIF within `--max-image-bytes`.
pub async fn upload(
    req: HttpRequest,
    app: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    super::admit(&req, &app, crate::admission::Action::Upload)?;
    Ok(upload_admitted(req, app, payload).await?)
}

async fn upload_admitted(
    req: HttpRequest,
    app: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let raw_key = req
        .headers()
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    LibraryKey::parse(raw_key)?;
    let raw = read_body(&req, payload, app.cfg.max_image_bytes, "image").await?;
    let (p, new) = run(&app, move |l| l.store_image(&raw)).await?;
    Ok(HttpResponse::Created().json(json!({
        "url": p.url(),
        "hash": p.hash,
        "type": p.format.mime(),
        "width": p.width,
        "height": p.height,
        "bytes": p.bytes.len(),
        "new": new,
    })))
}

/// `GET /media/{file}`: an uploaded picture, or a built-in one.
pub async fn serve(req: HttpRequest, app: web::Data<AppState>) -> HttpResponse {
    let path = req.path().to_string();
    let Some((hash, format)) = media_ref(&path) else {
        return super::pages::asset(req).await;
    };
    let etag = format!("\"{hash}\"");
    let cache = "public, max-age=31536000, immutable";
    let fresh = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == etag);
    let mut res = if fresh {
        // The name is the content: a copy with this ETag is this picture.
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, etag))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        // A picture is never a document: no script even if opened directly.
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        ));
    if fresh {
        return res.finish();
    }
    let hash = hash.to_string();
    match run(&app, move |l| l.image(&hash, format)).await {
        Ok(Some(bytes)) => res.content_type(format.mime()).body(bytes),
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}
