//! MC routes that run the quiz: load it, rounds, questions, reveal, marking,
//! score overrides, settings.

use super::{apply, OptionalJson};
use crate::error::ApiError;
use crate::game::events::CloseReason;
use crate::game::{quiz, Command, Outcome};
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

type Code = web::Path<String>;

pub async fn load(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let quiz = quiz::parse(body.into_inner())?;
    let summary = json!({
        "rounds": quiz.rounds.len(),
        "questions": quiz.rounds.iter().map(|r| r.questions.len()).sum::<usize>(),
    });
    apply(&req, &app, &code, Command::LoadQuiz { quiz }).await?;
    Ok(HttpResponse::Ok().json(summary))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoundBody {
    round_id: String,
}

pub async fn round(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
    body: web::Json<RoundBody>,
) -> Result<HttpResponse, ApiError> {
    let round_id = body.into_inner().round_id;
    apply(&req, &app, &code, Command::StartRound { round_id }).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct OpenBody {
    question_id: Option<String>,
    time_limit_sec: Option<u32>,
}

pub async fn open(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
    OptionalJson(body): OptionalJson<OpenBody>,
) -> Result<HttpResponse, ApiError> {
    let cmd = Command::OpenQuestion {
        question_id: body.question_id,
        time_limit_sec: body.time_limit_sec,
        now_ms: 0,
    };
    match apply(&req, &app, &code, cmd).await? {
        Outcome::QuestionOpened {
            question_id,
            deadline,
            ..
        } => Ok(HttpResponse::Ok().json(json!({"questionId": question_id, "deadline": deadline}))),
        _ => Ok(HttpResponse::NoContent().finish()),
    }
}

pub async fn close(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
) -> Result<HttpResponse, ApiError> {
    let cmd = Command::CloseQuestion {
        reason: CloseReason::Mc,
        opening: None,
    };
    apply(&req, &app, &code, cmd).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn reveal(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
) -> Result<HttpResponse, ApiError> {
    apply(&req, &app, &code, Command::Reveal).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkingBody {
    enabled: bool,
    #[serde(default)]
    round_id: Option<String>,
}

pub async fn marking(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
    body: web::Json<MarkingBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let cmd = if body.enabled {
        Command::StartMarking {
            round_id: body.round_id,
            seed: 0,
        }
    } else {
        Command::EndMarking
    };
    apply(&req, &app, &code, cmd).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoreBody {
    player_id: String,
    question_id: String,
    score: f64,
}

pub async fn override_score(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
    body: web::Json<ScoreBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let cmd = Command::OverrideScore {
        player_id: b.player_id,
        question_id: b.question_id,
        score: b.score,
    };
    apply(&req, &app, &code, cmd).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    chat: bool,
}

pub async fn settings(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
    body: web::Json<SettingsBody>,
) -> Result<HttpResponse, ApiError> {
    let enabled = body.into_inner().chat;
    apply(&req, &app, &code, Command::SetChat { enabled }).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST .../leaderboard/show` body; an empty body (or `{}`) shows it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShowBody {
    #[serde(default = "shown_by_default")]
    shown: bool,
}

fn shown_by_default() -> bool {
    true
}

impl Default for ShowBody {
    fn default() -> Self {
        ShowBody { shown: true }
    }
}

/// The "leaderboard moment": shown to everyone until the next question
/// opens (or the MC hides it).
pub async fn show_leaderboard(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
    OptionalJson(body): OptionalJson<ShowBody>,
) -> Result<HttpResponse, ApiError> {
    let cmd = Command::ShowLeaderboard { shown: body.shown };
    apply(&req, &app, &code, cmd).await?;
    Ok(HttpResponse::NoContent().finish())
}
