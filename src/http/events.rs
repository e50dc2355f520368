//! `GET .../events?since=N&wait=S`: the long-poll fallback. Same events, same
//! order as the WebSocket, from the same ring.

use super::{claims, session};
use crate::error::ApiError;
use crate::session::messages::{Poll, PollReply};
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use std::time::Duration;

/// Longest a poll may wait, in seconds.
pub const MAX_WAIT_SECS: u64 = 30;

#[derive(Deserialize)]
pub struct PollQuery {
    #[serde(default)]
    since: u64,
    #[serde(default = "default_wait")]
    wait: u64,
}

fn default_wait() -> u64 {
    25
}

fn json(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "no-store"))
        .body(body)
}

pub async fn poll(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: web::Path<String>,
    query: web::Query<PollQuery>,
) -> Result<HttpResponse, ApiError> {
    let claims = claims(&req, &app, &code)?;
    let s = session(&app, &code).await?;
    let wait = Duration::from_secs(query.wait.min(MAX_WAIT_SECS));
    let first = Poll {
        claims: claims.clone(),
        since: query.since,
        wait: !wait.is_zero(),
    };
    let rx = match s.send(first).await?? {
        PollReply::Ready(body) => return Ok(json(body)),
        PollReply::Wait(rx) => rx,
    };
    if let Ok(Ok(body)) = actix_rt::time::timeout(wait, rx).await {
        return Ok(json(body));
    }
    // Timed out (or the session stopped): answer with what is there now.
    let last = Poll {
        claims,
        since: query.since,
        wait: false,
    };
    match s.send(last).await?? {
        PollReply::Ready(body) => Ok(json(body)),
        PollReply::Wait(_) => Err(ApiError::internal()),
    }
}
