//! Start-up only: config, logging, listen, wait for a signal, stop cleanly.

use clap::Parser;
use quizcast::config::Config;
use std::net::TcpListener;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    // Test builds only: fail points set from `FAILPOINTS` (the cluster
    // tests drop relayed messages this way).
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let cfg = Config::parse();
    let listener = match TcpListener::bind(&cfg.addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("quizcast: cannot listen on {}: {e}", cfg.addr);
            return std::process::ExitCode::FAILURE;
        }
    };
    let server = match quizcast::start(cfg, listener) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("quizcast: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("quizcast listening on http://{}", server.addr);
    wait_for_signal().await;
    log::info!("shutting down");
    server.shutdown().await;
    std::process::ExitCode::SUCCESS
}

async fn wait_for_signal() {
    use actix_rt::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = actix_rt::signal::ctrl_c().await;
            return;
        }
    };
    tokio_select(actix_rt::signal::ctrl_c(), term.recv()).await;
}

/// Resolves when either future does.
async fn tokio_select<A: std::future::Future, B: std::future::Future>(a: A, b: B) {
    use futures_util::future::{select, Either};
    let (a, b) = (Box::pin(a), Box::pin(b));
    match select(a, b).await {
        Either::Left(_) | Either::Right(_) => {}
    }
}
