//! HTTP routes. Handlers only translate between HTTP and session messages.

mod events;
mod health;
mod library;
mod media;
mod pages;
mod play;
mod players;
mod quiz;
mod results;
mod sessions;
mod teams;

use crate::auth::{AuthError, Claims};
use crate::error::ApiError;
use crate::protocol::ErrorCode;
use crate::registry::Serve;
use crate::session::Session;
use crate::AppState;
use actix::Addr;
use actix_web::{
    error::JsonPayloadError, http::StatusCode, web, HttpRequest, HttpResponse, ResponseError,
};
use serde_json::json;

/// Largest accepted JSON body (a quiz with many rounds fits comfortably).
pub const BODY_LIMIT: usize = 1024 * 1024;

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({"error": {"code": self.code.as_str(), "message": self.message}});
        if let Some(f) = &self.field {
            body["error"]["field"] = json!(f);
        }
        let mut resp = HttpResponse::build(self.status_code());
        if matches!(self.code, ErrorCode::RateLimited | ErrorCode::Unavailable) {
            // Limits without a known wait (e.g. chat per sender), a refused
            // write, a session on another node of the cluster: a second.
            resp.insert_header((actix_web::http::header::RETRY_AFTER, "1"));
        }
        resp.json(body)
    }
}

fn json_error(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let e = match &err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::new(ErrorCode::PayloadTooLarge, "request body too large")
        }
        JsonPayloadError::ContentType => ApiError::new(
            ErrorCode::BadRequest,
            "expected Content-Type: application/json",
        ),
        other => ApiError::new(ErrorCode::BadRequest, format!("invalid JSON body: {other}")),
    };
    e.into()
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(BODY_LIMIT)
            .error_handler(json_error),
    )
    .route("/healthz", web::get().to(health::healthz))
    .route("/api/stats", web::get().to(health::stats))
    .route("/metrics", web::get().to(health::metrics))
    .route("/api/sessions/{code}/events", web::get().to(events::poll))
    .route("/ws", web::get().to(crate::socket::upgrade))
    .route("/", web::get().to(pages::player))
    .route("/join/{code}", web::get().to(pages::player))
    .route("/mc", web::get().to(pages::mc))
    .route("/display/{code}", web::get().to(pages::display))
    .route("/dashboard", web::get().to(pages::dashboard))
    .route("/static/{file}", web::get().to(pages::asset))
    .route("/media/{file}", web::get().to(media::serve))
    .route("/editor", web::get().to(pages::editor))
    .route("/api/images", web::post().to(media::upload))
    .route("/api/quizzes/validate", web::post().to(library::validate))
    .route("/api/library", web::post().to(library::new_key))
    .route("/api/library/import", web::post().to(library::import))
    .route("/api/library/quizzes", web::get().to(library::list))
    .route("/api/library/quizzes", web::post().to(library::create))
    .route("/api/library/quizzes/{id}", web::get().to(library::get))
    .route("/api/library/quizzes/{id}", web::put().to(library::update))
    .route(
        "/api/library/quizzes/{id}",
        web::patch().to(library::rename),
    )
    .route(
        "/api/library/quizzes/{id}",
        web::delete().to(library::delete),
    )
    .route(
        "/api/library/quizzes/{id}/copy",
        web::post().to(library::copy),
    )
    .route(
        "/api/library/quizzes/{id}/package",
        web::get().to(library::export),
    )
    .route("/api/sessions/{code}/qr.svg", web::get().to(pages::qr))
    .route("/api/sessions", web::post().to(sessions::create))
    .route("/api/sessions/{code}", web::get().to(sessions::info))
    .route("/api/sessions/{code}/state", web::get().to(sessions::state))
    .route("/api/sessions/{code}/end", web::post().to(sessions::end))
    .route(
        "/api/sessions/{code}/display-link",
        web::get().to(sessions::display_link),
    )
    .route(
        "/api/sessions/{code}/players",
        web::post().to(players::join),
    )
    .route(
        "/api/sessions/{code}/players/reset",
        web::post().to(players::reset),
    )
    // Before `players/{player_id}`: "me" is never a player id.
    .route(
        "/api/sessions/{code}/players/me",
        web::delete().to(players::leave),
    )
    .route(
        "/api/sessions/{code}/players/{player_id}",
        web::delete().to(players::remove),
    )
    .route("/api/sessions/{code}/bans", web::get().to(players::bans))
    .route(
        "/api/sessions/{code}/bans/{ban_id}",
        web::delete().to(players::unban),
    )
    .route(
        "/api/sessions/{code}/leaderboard/show",
        web::post().to(quiz::show_leaderboard),
    )
    .route("/api/sessions/{code}/quiz", web::put().to(quiz::load))
    .route("/api/sessions/{code}/round", web::post().to(quiz::round))
    .route("/api/sessions/{code}/question", web::post().to(quiz::open))
    .route(
        "/api/sessions/{code}/question/close",
        web::post().to(quiz::close),
    )
    .route(
        "/api/sessions/{code}/question/reveal",
        web::post().to(quiz::reveal),
    )
    .route(
        "/api/sessions/{code}/marking",
        web::post().to(quiz::marking),
    )
    .route(
        "/api/sessions/{code}/scores",
        web::post().to(quiz::override_score),
    )
    .route(
        "/api/sessions/{code}/settings",
        web::patch().to(quiz::settings),
    )
    .route("/api/sessions/{code}/teams", web::get().to(teams::list))
    .route("/api/sessions/{code}/teams", web::post().to(teams::create))
    .route(
        "/api/sessions/{code}/teams/mode",
        web::put().to(teams::mode),
    )
    .route(
        "/api/sessions/{code}/teams/members/{player_id}",
        web::put().to(teams::assign),
    )
    .route(
        "/api/sessions/{code}/teams/{team_id}",
        web::patch().to(teams::rename),
    )
    .route(
        "/api/sessions/{code}/teams/{team_id}",
        web::delete().to(teams::remove),
    )
    .route(
        "/api/sessions/{code}/teams/{team_id}/merge",
        web::post().to(teams::merge),
    )
    .route(
        "/api/sessions/{code}/team-scores",
        web::post().to(teams::score),
    )
    .route("/api/sessions/{code}/answers", web::post().to(play::answer))
    .route("/api/sessions/{code}/marks", web::post().to(play::mark))
    .route("/api/sessions/{code}/chat", web::post().to(play::chat))
    .route(
        "/api/sessions/{code}/leaderboard",
        web::get().to(results::leaderboard),
    )
    .route(
        "/api/sessions/{code}/results",
        web::get().to(results::results),
    )
    .route(
        "/api/sessions/{code}/marking/results",
        web::get().to(results::marking),
    )
    .default_service(web::to(|| async {
        ApiError::new(ErrorCode::BadRequest, "no such route").with_status_404()
    }));
}

impl ApiError {
    fn with_status_404(self) -> HttpResponse {
        HttpResponse::NotFound()
            .json(json!({"error": {"code": "NOT_FOUND", "message": self.message}}))
    }
}

/// A JSON body that may also be absent (then `T::default()`); errors are
/// reported like `web::Json`'s.
pub struct OptionalJson<T>(pub T);

impl<T> actix_web::FromRequest for OptionalJson<T>
where
    T: serde::de::DeserializeOwned + Default + 'static,
{
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let empty = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0")
            || (!req
                .headers()
                .contains_key(actix_web::http::header::CONTENT_LENGTH)
                && !req
                    .headers()
                    .contains_key(actix_web::http::header::TRANSFER_ENCODING));
        if empty {
            return Box::pin(async { Ok(OptionalJson(T::default())) });
        }
        let fut = web::Json::<T>::from_request(req, payload);
        Box::pin(async move { fut.await.map(|j| OptionalJson(j.into_inner())) })
    }
}

/// The verified claims of the request's bearer token, if it sent one.
pub fn claims(req: &HttpRequest, app: &AppState, code: &str) -> Result<Option<Claims>, ApiError> {
    let Some(h) = req.headers().get(actix_web::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let raw = h.to_str().map_err(|_| ApiError::from(AuthError::Invalid))?;
    let token = raw
        .strip_prefix("Bearer ")
        .or_else(|| raw.strip_prefix("bearer "))
        .ok_or(ApiError::from(AuthError::Invalid))?;
    Ok(Some(app.auth.verify(token, code)?))
}

/// The claims of a request that must carry a token.
pub fn required_claims(req: &HttpRequest, app: &AppState, code: &str) -> Result<Claims, ApiError> {
    claims(req, app, code)?.ok_or_else(|| ApiError::from(AuthError::Missing))
}

/// Sends a command as the request's bearer (token required).
pub async fn apply(
    req: &HttpRequest,
    app: &AppState,
    code: &str,
    cmd: crate::game::Command,
) -> Result<crate::game::Outcome, ApiError> {
    let key = idempotency_key(req)?;
    let (claims, s) = authorized(req, app, code).await?;
    s.send(crate::session::messages::Apply {
        claims: Some(claims),
        cmd,
        key,
    })
    .await?
}

/// Longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 128;

/// The request's `Idempotency-Key` header (docs/protocol.md): printable
/// ASCII, at most 128 characters.
fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(h) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(
            crate::protocol::ErrorCode::BadRequest,
            "Idempotency-Key must be 1 to 128 printable ASCII characters",
        )
    };
    let k = h.to_str().map_err(|_| bad())?.trim();
    if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY || !k.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(k.to_string()))
}

/// The verified token of a request that must carry one, and its session.
pub async fn authorized(
    req: &HttpRequest,
    app: &AppState,
    code: &str,
) -> Result<(Claims, Addr<Session>), ApiError> {
    let claims = required_claims(req, app, code)?;
    Ok((claims, session(app, code).await?))
}

/// Admission control for `action` from the request's address.
pub fn admit(
    req: &HttpRequest,
    app: &AppState,
    action: crate::admission::Action,
) -> Result<(), crate::admission::Refused> {
    let ip = app.admission.client_ip(req);
    app.admission.check(action, ip, &app.metrics)
}

/// The session actor for `code`: in cluster mode, a session another node
/// owns is served here as an edge (session/edge.rs).
pub async fn session(app: &AppState, code: &str) -> Result<Addr<Session>, ApiError> {
    let found = app
        .registry
        .send(Serve {
            code: code.to_string(),
        })
        .await
        .map_err(|_| ApiError::unavailable())??;
    found.ok_or_else(ApiError::not_found)
}
