//! `/api/sessions`: create, read, state, end.

use super::{apply, claims, session, OptionalJson};
use crate::error::ApiError;
use crate::game::events::EndReason;
use crate::game::state::Settings;
use crate::game::Command;
use crate::registry::Create;
use crate::session::messages::{ReadInfo, ReadState};
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

/// `POST /api/sessions` body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateBody {
    title: Option<String>,
    quiz: Option<Value>,
    settings: Option<Settings>,
}

fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

pub async fn create(
    req: HttpRequest,
    app: web::Data<AppState>,
    OptionalJson(body): OptionalJson<CreateBody>,
) -> Result<HttpResponse, actix_web::Error> {
    super::admit(&req, &app, crate::admission::Action::CreateSession)?;
    Ok(create_admitted(req, app, body).await?)
}

async fn create_admitted(
    req: HttpRequest,
    app: web::Data<AppState>,
    body: CreateBody,
) -> Result<HttpResponse, ApiError> {
    // Validate first: a bad quiz creates no session.
    let quiz = body.quiz.map(crate::game::quiz::parse).transpose()?;
    let title = body
        .title
        .or_else(|| quiz.as_ref().and_then(|q| q.title.clone()))
        .unwrap_or_default()
        .trim()
        .chars()
        .take(120)
        .collect::<String>();
    let settings = body
        .settings
        .or_else(|| quiz.as_ref().and_then(|q| q.settings.clone()))
        .unwrap_or_default();
    let created = app
        .registry
        .send(Create { title, settings })
        .await
        .map_err(|_| ApiError::internal())??;
    if let Some(mut quiz) = quiz {
        // The create request's own title and settings win over the quiz's.
        quiz.title = None;
        quiz.settings = None;
        created
            .addr
            .send(crate::session::messages::LoadQuizAsOwner { quiz })
            .await??;
    }
    let base = base_url(&req);
    Ok(HttpResponse::Created().json(json!({
        "code": created.code,
        "mcToken": created.mc_token,
        "joinUrl": format!("{base}/join/{}", created.code),
        "displayUrl": display_url(&base, &created.code, &created.display_token),
    })))
}

/// The display link: the token in the fragment, which browsers never send.
fn display_url(base: &str, code: &str, token: &str) -> String {
    format!("{base}/display/{code}#token={token}")
}

/// `GET /api/sessions/{code}/display-link` (MC): a display link with a
/// fresh display token, for an MC panel opened from the MC link.
pub async fn display_link(
    req: HttpRequest,
    app: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (claims, s) = super::authorized(&req, &app, &path).await?;
    let token = s
        .send(crate::session::messages::DisplayLink { claims })
        .await??;
    let code = path.to_uppercase();
    Ok(HttpResponse::Ok().json(json!({
        "displayUrl": display_url(&base_url(&req), &code, &token),
        "displayToken": token,
    })))
}

pub async fn info(
    app: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = session(&app, &path).await?;
    Ok(HttpResponse::Ok().json(s.send(ReadInfo).await?))
}

pub async fn state(
    req: HttpRequest,
    app: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let claims = claims(&req, &app, &path)?;
    let s = session(&app, &path).await?;
    let v = s.send(ReadState { claims }).await??;
    Ok(HttpResponse::Ok().json(&v["snapshot"]))
}

pub async fn end(
    req: HttpRequest,
    app: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cmd = Command::End {
        reason: EndReason::Mc,
    };
    apply(&req, &app, &path, cmd).await?;
    Ok(HttpResponse::NoContent().finish())
}
