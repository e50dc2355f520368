//! Admission control in one place: what one client address may start, and
//! how fast. Every per-address limit of the server is here, each a token
//! bucket per address ([`PerAddress`]) configured by a pair of flags
//! (`docs/operations.md` lists them with their defaults and why):
//!
//! | action | flags |
//! |---|---|
//! | session creation | `--http-rate`, `--http-burst` |
//! | join by name over HTTP | `--http-rate`/`--http-burst`, then `--join-rate`/`--join-burst` |
//! | join by name over WebSocket | `--join-rate`, `--join-burst` |
//! | WebSocket upgrade | `--upgrade-rate`, `--upgrade-burst` |
//! | answer or mark over HTTP | `--answer-rate`, `--answer-burst` |
//! | picture upload, package import | `--upload-rate`, `--upload-burst` |
//!
//! A refusal is [`Refused`]: `RATE_LIMITED`, with how long to wait. Over
//! HTTP it is a 429 with `Retry-After` (whole seconds, rounded up).

use crate::config::Config;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::protocol::ErrorCode;
use crate::proxies::TrustedProxies;
use crate::ratelimit::PerAddress;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde_json::json;
use std::net::IpAddr;
use std::time::Duration;

/// What a client address asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateSession,
    /// `POST /api/sessions/{code}/players`.
    HttpJoin,
    /// A WebSocket `join` with a `name` (a new player).
    WsJoin,
    /// `GET /ws`.
    Upgrade,
    /// `POST .../answers` or `POST .../marks`.
    AnswerOrMark,
    /// `POST /api/images` or `POST /api/library/import`: each costs a
    /// decode of up to `--max-image-bytes` per picture.
    Upload,
}

impl Action {
    fn what(self) -> &'static str {
        match self {
            Action::CreateSession => "sessions created",
            Action::HttpJoin | Action::WsJoin => "players joining by name",
            Action::Upgrade => "WebSocket connections opened",
            Action::AnswerOrMark => "answers and marks sent over HTTP",
            Action::Upload => "pictures and packages uploaded",
        }
    }
}

/// A request refused by admission control.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("too many {} from this address; retry in {} s", .action.what(), self.retry_after_secs())]
pub struct Refused {
    pub action: Action,
    pub retry_after: Duration,
}

impl Refused {
    /// `Retry-After` in whole seconds (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> Self {
        ApiError::new(ErrorCode::RateLimited, r.to_string())
    }
}

impl ResponseError for Refused {
    fn status_code(&self) -> StatusCode {
        StatusCode::TOO_MANY_REQUESTS
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, self.retry_after_secs().to_string()))
            .json(json!({"error": {
                "code": ErrorCode::RateLimited.as_str(),
                "message": self.to_string(),
                "retryAfterMs": self.retry_after.as_millis() as u64,
            }}))
    }
}

/// The per-address limiters; see the module docs.
pub struct Admission {
    proxies: TrustedProxies,
    http: PerAddress,
    joins: PerAddress,
    upgrades: PerAddress,
    answers: PerAddress,
    uploads: PerAddress,
}

impl Admission {
    pub fn new(cfg: &Config) -> Self {
        let n = cfg.rate_limit_addresses;
        Admission {
            proxies: TrustedProxies::new(cfg.trusted_proxies.clone()),
            http: PerAddress::new(cfg.http_rate, cfg.http_burst, n),
            joins: PerAddress::new(cfg.join_rate, cfg.join_burst, n),
            upgrades: PerAddress::new(cfg.upgrade_rate, cfg.upgrade_burst, n),
            answers: PerAddress::new(cfg.answer_rate, cfg.answer_burst, n),
            uploads: PerAddress::new(cfg.upload_rate, cfg.upload_burst, n),
        }
    }

    /// The address a request counts as (the TCP peer, or the client a
    /// trusted proxy forwarded; unspecified if unknown).
    pub fn client_ip(&self, req: &HttpRequest) -> IpAddr {
        self.proxies.client_ip(req)
    }

    /// Admits `action` from `ip`, or says how long it must wait; refusals
    /// are counted in `metrics` as `RATE_LIMITED` errors.
    pub fn check(&self, action: Action, ip: IpAddr, metrics: &Metrics) -> Result<(), Refused> {
        let res = match action {
            Action::CreateSession => self.http.check(ip),
            Action::HttpJoin => self.http.check(ip).and_then(|()| self.joins.check(ip)),
            Action::WsJoin => self.joins.check(ip),
            Action::Upgrade => self.upgrades.check(ip),
            Action::AnswerOrMark => self.answers.check(ip),
            Action::Upload => self.uploads.check(ip),
        };
        res.map_err(|retry_after| {
            metrics.error(ErrorCode::RateLimited);
            Refused {
                action,
                retry_after,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_round_retry_after_up_and_say_what() {
        let r = Refused {
            action: Action::Upgrade,
            retry_after: Duration::from_millis(1200),
        };
        assert_eq!(r.retry_after_secs(), 2);
        assert!(r.to_string().contains("WebSocket"));
        let e = ApiError::from(r.clone());
        assert_eq!(e.code, ErrorCode::RateLimited);
        let resp = r.error_response();
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers().get(header::RETRY_AFTER).unwrap(), "2");
    }

    #[test]
    fn http_joins_count_against_both_limits() {
        let cfg = Config {
            http_rate: 0.001,
            http_burst: 10.0,
            join_rate: 0.001,
            join_burst: 2.0,
            ..Config::default()
        };
        let a = Admission::new(&cfg);
        let m = Metrics::default();
        let ip = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        assert!(a.check(Action::WsJoin, ip, &m).is_ok());
        assert!(a.check(Action::HttpJoin, ip, &m).is_ok());
        assert_eq!(
            a.check(Action::HttpJoin, ip, &m).unwrap_err().action,
            Action::HttpJoin
        );
        assert!(a.check(Action::CreateSession, ip, &m).is_ok());
        assert!(a.check(Action::Upgrade, ip, &m).is_ok());
    }
}
