//! `/api/library`: the quiz library (list, create, read, update, rename,
//! copy, delete, export and import as a package) and
//! `POST /api/quizzes/validate`, the editor's check as you type. Library
//! routes take the library key in `X-Library-Key`.

use crate::error::ApiError;
use crate::game::quiz;
use crate::library::{Library, LibraryError, LibraryKey};
use crate::protocol::ErrorCode;
use crate::AppState;
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The header that carries the library key.
pub const KEY_HEADER: &str = "X-Library-Key";

/// The request's library key.
fn key(req: &HttpRequest) -> Result<LibraryKey, ApiError> {
    let raw = req
        .headers()
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Ok(LibraryKey::parse(raw)?)
}

/// Runs a blocking library call on the blocking pool.
pub async fn run<T, F>(app: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Library) -> Result<T, LibraryError> + Send + 'static,
{
    let lib: Arc<Library> = app.library.clone();
    web::block(move || f(&lib))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(ApiError::from)
}

/// Reads a raw request body of at most `limit` bytes. A larger body is
/// refused with `PAYLOAD_TOO_LARGE` (after reading what was sent, up to a
/// bound, so the client sees the answer rather than a reset).
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, ApiError> {
    let too_large = |n: usize| {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the {what} is {n} bytes; at most {limit} bytes are accepted"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let drain_cap = limit.saturating_mul(4).max(16 << 20);
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let mut seen = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("body: {e}")))?;
        seen += chunk.len();
        if seen <= limit {
            buf.extend_from_slice(&chunk);
        } else if seen > drain_cap {
            break;
        }
    }
    if seen > limit {
        return Err(too_large(declared.unwrap_or(seen).max(seen)));
    }
    Ok(buf)
}

/// `POST /api/library`: a new library key (the editor makes one on first use).
pub async fn new_key() -> HttpResponse {
    HttpResponse::Created().json(json!({"key": LibraryKey::generate().as_str()}))
}

pub async fn list(req: HttpRequest, app: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let k = key(&req)?;
    let quizzes = run(&app, move |l| l.list(&k)).await?;
    Ok(HttpResponse::Ok().json(json!({"quizzes": quizzes})))
}

pub async fn create(
    req: HttpRequest,
    app: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let k = key(&req)?;
    let raw = body.into_inner();
    let e = run(&app, move |l| l.create(&k, raw)).await?;
    Ok(HttpResponse::Created().json(e))
}

pub async fn get(
    req: HttpRequest,
    app: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let k = key(&req)?;
    let id = id.into_inner();
    let (e, quiz) = run(&app, move |l| l.get(&k, &id)).await?;
    let mut v = serde_json::to_value(e).map_err(|_| ApiError::internal())?;
    v["quiz"] = quiz;
    Ok(HttpResponse::Ok().json(v))
}

pub async fn update(
    req: HttpRequest,
    app: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let k = key(&req)?;
    let (id, raw) = (id.into_inner(), body.into_inner());
    let e = run(&app, move |l| l.update(&k, &id, raw)).await?;
    Ok(HttpResponse::Ok().json(e))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameBody {
    name: String,
}

pub async fn rename(
    req: HttpRequest,
    app: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<RenameBody>,
) -> Result<HttpResponse, ApiError> {
    let k = key(&req)?;
    let (id, name) = (id.into_inner(), body.into_inner().name);
    let e = run(&app, move |l| l.rename(&k, &id, &name)).await?;
    Ok(HttpResponse::Ok().json(e))
}

pub async fn copy(
    req: HttpRequest,
    app: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let k = key(&req)?;
    let id = id.into_inner();
    let e = run(&app, move |l| l.copy(&k, &id)).await?;
    Ok(HttpResponse::Created().json(e))
}

pub async fn delete(
    req: HttpRequest,
    app: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let k = key(&req)?;
    let id = id.into_inner();
    run(&app, move |l| l.delete(&k, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/library/quizzes/{id}/package`: the quiz and its pictures, one zip.
pub async fn export(
    req: HttpRequest,
    app: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let k = key(&req)?;
    let id = id.into_inner();
    let (name, zip) = run(&app, move |l| l.export(&k, &id)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(zip))
}

/// `POST /api/library/import`: a package (zip) or a quiz JSON file as the
/// raw body; saved as a new quiz.
pub async fn import(
    req: HttpRequest,
    app: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    super::admit(&req, &app, crate::admission::Action::Upload)?;
    Ok(import_admitted(req, app, payload).await?)
}

async fn import_admitted(
    req: HttpRequest,
    app: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let k = key(&req)?;
    let bytes = read_body(&req, payload, app.cfg.max_package_bytes, "package").await?;
    let e = run(&app, move |l| l.import(&k, &bytes)).await?;
    Ok(HttpResponse::Created().json(e))
}

/// `POST /api/quizzes/validate`: 200 `{valid: true, rounds, questions}`, or
/// 422 `INVALID_QUIZ` with the first bad field, exactly as loading the quiz
/// into a session would answer.
pub async fn validate(body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    let q = quiz::parse(body.into_inner())?;
    Ok(HttpResponse::Ok().json(json!({
        "valid": true,
        "rounds": q.rounds.len(),
        "questions": q.rounds.iter().map(|r| r.questions.len()).sum::<usize>(),
    })))
}
