//! Player routes: answers, marks, chat (also open to the MC).

use super::apply;
use crate::admission::Action;
use crate::error::ApiError;
use crate::game::events::ChatFrom;
use crate::game::{Command, Outcome, Role};
use crate::protocol::{AnswerData, ChatData, MarkData};
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

type Code = web::Path<String>;

pub async fn answer(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
    body: web::Json<AnswerData>,
) -> Result<HttpResponse, actix_web::Error> {
    super::admit(&req, &app, Action::AnswerOrMark)?;
    let b = body.into_inner();
    let cmd = Command::SubmitAnswer {
        player_id: String::new(),
        question_id: b.question_id,
        answer: b.answer,
        now_ms: 0,
    };
    match apply(&req, &app, &code, cmd).await? {
        Outcome::Answer {
            question_id,
            revision,
        } => Ok(HttpResponse::Ok().json(json!({"questionId": question_id, "revision": revision}))),
        _ => Err(ApiError::internal().into()),
    }
}

pub async fn mark(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
    body: web::Json<MarkData>,
) -> Result<HttpResponse, actix_web::Error> {
    super::admit(&req, &app, Action::AnswerOrMark)?;
    let b = body.into_inner();
    let reply =
        json!({"assignmentId": b.assignment_id, "questionId": b.question_id, "score": b.score});
    let cmd = Command::SubmitMark {
        player_id: String::new(),
        assignment_id: b.assignment_id,
        question_id: b.question_id,
        score: b.score,
    };
    apply(&req, &app, &code, cmd).await?;
    Ok(HttpResponse::Ok().json(reply))
}

pub async fn chat(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
    body: web::Json<ChatData>,
) -> Result<HttpResponse, ApiError> {
    let cmd = Command::Chat {
        from: ChatFrom {
            player_id: None,
            name: String::new(),
            role: Role::Player,
        },
        text: body.into_inner().text,
    };
    apply(&req, &app, &code, cmd).await?;
    Ok(HttpResponse::NoContent().finish())
}
