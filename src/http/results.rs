//! Read-only results: leaderboard, per-answer results (JSON or CSV), marking.

use super::{authorized, session};
use crate::error::ApiError;
use crate::game::{results, team_results};
use crate::session::messages::{ReadLeaderboard, ReadMarking, ReadResults};
use crate::session::teams::ReadTeamResults;
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

type Code = web::Path<String>;

pub async fn leaderboard(app: web::Data<AppState>, code: Code) -> Result<HttpResponse, ApiError> {
    let s = session(&app, &code).await?;
    Ok(HttpResponse::Ok().json(s.send(ReadLeaderboard).await?))
}

pub async fn results(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
) -> Result<HttpResponse, ApiError> {
    let (claims, s) = authorized(&req, &app, &code).await?;
    let rows = s
        .send(ReadResults {
            claims: Some(claims.clone()),
        })
        .await??;
    let teams = s.send(ReadTeamResults { claims }).await??;
    let by_player = req.query_string().split('&').any(|kv| kv == "by=player");
    let wants_csv = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"))
        || req.query_string().split('&').any(|kv| kv == "format=csv");
    if wants_csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                format!(
                    "attachment; filename=\"quizcast-{}.csv\"",
                    code.to_uppercase()
                ),
            ))
            .body(match &teams {
                // Team mode: by team, unless `by=player` asks for players.
                Some(t) if !by_player => team_results::csv(t),
                _ => results::csv(&rows),
            }));
    }
    let mut body = json!({ "rows": rows });
    if let Some(t) = teams {
        body["teams"] = json!(t);
    }
    Ok(HttpResponse::Ok().json(body))
}

pub async fn marking(
    req: HttpRequest,
    app: web::Data<AppState>,
    code: Code,
) -> Result<HttpResponse, ApiError> {
    let (claims, s) = authorized(&req, &app, &code).await?;
    Ok(HttpResponse::Ok().json(
        s.send(ReadMarking {
            claims: Some(claims),
        })
        .await??,
    ))
}
