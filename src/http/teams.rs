//! `/api/sessions/{code}/teams...`: team mode (extension, see
//! docs/protocol.md). Reading the teams is open to anyone (the join page
//! lists them); every change is the MC's.

use super::{apply, session};
use crate::error::ApiError;
use crate::game::teams::TeamMode;
use crate::game::{Command, Outcome};
use crate::session::teams::ReadTeams;
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

type Code = web::Path<String>;
type CodeAnd = web::Path<(String, String)>;

/// `GET .../teams` (anyone).
pub async fn list(app: web::Data<AppState>, code: Code) -> Result<HttpResponse, ApiError> {
    let s = session(&app, &code).await?;
    Ok(HttpResponse::Ok().json(s.send(ReadTeams).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModeBody {
    teams: TeamMode,
    #[serde(default)]
    max_teams: Option<usize>,
    #[serde(default)]
    max_team_size: Option<usize>,
}

/// `PUT .../teams/mode` (MC, before the first question).
pub async fn mode(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
    body: web::Json<ModeBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let cmd = Command::SetTeamMode {
        mode: b.teams,
        max_teams: b.max_teams,
        max_team_size: b.max_team_size,
    };
    apply(&req, &app, &code, cmd).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameBody {
    name: String,
}

/// `POST .../teams` (MC): 201 `{teamId}`.
pub async fn create(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
    body: web::Json<NameBody>,
) -> Result<HttpResponse, ApiError> {
    let name = body.into_inner().name;
    match apply(&req, &app, &code, Command::CreateTeam { name }).await? {
        Outcome::TeamCreated { team_id } => {
            Ok(HttpResponse::Created().json(json!({ "teamId": team_id })))
        }
        _ => Err(ApiError::internal()),
    }
}

/// `PATCH .../teams/{teamId}` (MC): rename.
pub async fn rename(
    req: HttpRequest,
    app: web::Data<AppState>,
    path: CodeAnd,
    body: web::Json<NameBody>,
) -> Result<HttpResponse, ApiError> {
    let (code, team_id) = path.into_inner();
    let name = body.into_inner().name;
    apply(&req, &app, &code, Command::RenameTeam { team_id, name }).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE .../teams/{teamId}` (MC): its members stay, without a team.
pub async fn remove(
    req: HttpRequest,
    app: web::Data<AppState>,
    path: CodeAnd,
) -> Result<HttpResponse, ApiError> {
    let (code, team_id) = path.into_inner();
    apply(&req, &app, &code, Command::RemoveTeam { team_id }).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    into: String,
}

/// `POST .../teams/{teamId}/merge` (MC): `{into}`.
pub async fn merge(
    req: HttpRequest,
    app: web::Data<AppState>,
    path: CodeAnd,
    body: web::Json<MergeBody>,
) -> Result<HttpResponse, ApiError> {
    let (code, from) = path.into_inner();
    let into = body.into_inner().into;
    apply(&req, &app, &code, Command::MergeTeams { from, into }).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberBody {
    team_id: Option<String>,
}

/// `PUT .../teams/members/{playerId}` (MC): `{teamId}` assigns or moves
/// the player; `{teamId: null}` takes them out of their team.
pub async fn assign(
    req: HttpRequest,
    app: web::Data<AppState>,
    path: CodeAnd,
    body: web::Json<MemberBody>,
) -> Result<HttpResponse, ApiError> {
    let (code, player_id) = path.into_inner();
    let team_id = body.into_inner().team_id;
    apply(&req, &app, &code, Command::SetTeam { player_id, team_id }).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamScoreBody {
    team_id: String,
    question_id: String,
    score: f64,
}

/// `POST .../team-scores` (MC): marks or overrides a team's score for one
/// question.
pub async fn score(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
    body: web::Json<TeamScoreBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let cmd = Command::OverrideTeamScore {
        team_id: b.team_id,
        question_id: b.question_id,
        score: b.score,
    };
    apply(&req, &app, &code, cmd).await?;
    Ok(HttpResponse::NoContent().finish())
}
