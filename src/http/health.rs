//! Liveness and counters.

use crate::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn stats(app: web::Data<AppState>) -> HttpResponse {
    if !app.cfg.public_stats {
        return HttpResponse::NotFound().finish();
    }
    let mut v = app.metrics.stats();
    if let Some(c) = &app.cluster {
        v["cluster"]["sessions"] = json!(c.owned());
        v["cluster"]["node"] = json!(c.node());
        v["cluster"]["nodes"] = json!(c.live_nodes());
    }
    HttpResponse::Ok().json(v)
}

pub async fn metrics(app: web::Data<AppState>) -> HttpResponse {
    if !app.cfg.public_stats {
        return HttpResponse::NotFound().finish();
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(app.metrics.prometheus())
}
