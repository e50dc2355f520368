//! `/api/sessions/{code}/players`: join, leave, remove, reset; and the
//! removed players the MC keeps out (`/bans`).

use super::{apply, authorized, session};
use crate::admission::Action;
use crate::error::ApiError;
use crate::game::Command;
use crate::session::messages::{CreatePlayer, ReadBans};
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// `POST .../players` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinBody {
    name: String,
    /// Extension: the client's device id (see docs/protocol.md).
    #[serde(default)]
    device_id: Option<String>,
    /// Extension: in team mode, the team to join (id or name) or create.
    #[serde(default)]
    team: Option<String>,
}

pub async fn join(
    req: HttpRequest,
    app: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<JoinBody>,
) -> Result<HttpResponse, actix_web::Error> {
    super::admit(&req, &app, Action::HttpJoin)?;
    let s = session(&app, &path).await?;
    let body = body.into_inner();
    let (player_id, token) = s
        .send(CreatePlayer {
            name: body.name,
            device_id: body.device_id,
            team: body.team,
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

/// `DELETE .../players/me`: the player leaves for good (the HTTP twin of
/// the WebSocket `leave`, for clients on long polling).
pub async fn leave(
    req: HttpRequest,
    app: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cmd = Command::Leave {
        player_id: String::new(),
    };
    apply(&req, &app, &path, cmd).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET .../bans` (MC): the removed players kept out.
pub async fn bans(
    req: HttpRequest,
    app: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (claims, s) = authorized(&req, &app, &path).await?;
    let bans = s.send(ReadBans { claims }).await??;
    Ok(HttpResponse::Ok().json(json!({ "bans": bans })))
}

/// `DELETE .../bans/{banId}` (MC): lets a removed player back in.
pub async fn unban(
    req: HttpRequest,
    app: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (code, ban_id) = path.into_inner();
    apply(&req, &app, &code, Command::Unban { ban_id }).await?;
    Ok(HttpResponse::NoContent().finish())
}
