//! `/api/sessions/{code}/players`: join, remove, reset.

use super::{apply, session};
use crate::admission::Action;
use crate::error::ApiError;
use crate::game::Command;
use crate::session::messages::CreatePlayer;
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// `POST .../players` body.
#[derive(Debug, Deserialize)]
pub struct JoinBody {
    name: String,
}

pub async fn join(
    req: HttpRequest,
    app: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<JoinBody>,
) -> Result<HttpResponse, actix_web::Error> {
    super::admit(&req, &app, Action::HttpJoin)?;
    let s = session(&app, &path).await?;
    let (player_id, token) = s
        .send(CreatePlayer {
            name: body.into_inner().name,
        })
        .await
        .map_err(ApiError::from)??;
    Ok(HttpResponse::Created().json(json!({"playerId": player_id, "token": token})))
}

pub async fn remove(
    req: HttpRequest,
    app: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (code, player_id) = path.into_inner();
    apply(&req, &app, &code, Command::RemovePlayer { player_id }).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn reset(
    req: HttpRequest,
    app: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    apply(&req, &app, &path, Command::ResetPlayers).await?;
    Ok(HttpResponse::NoContent().finish())
}
