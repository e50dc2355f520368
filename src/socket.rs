//! The socket actor: one per WebSocket. It parses client frames, answers
//! what needs no session (ping, malformed frames, rate limits), forwards the
//! rest to its session, and writes whatever its outbox holds.
//!
//! This is the only module that knows `actix-web-actors`.

use crate::admission::Action;
use crate::auth::Claims;
use crate::error::ApiError;
use crate::game::Role;
use crate::outbox::{Frames, OutFrame, Outbox};
use crate::protocol::{
    self, close, error_frame, reply_frame, ClientMessage, ErrorCode, JoinData, ParseError,
};
use crate::ratelimit::TokenBucket;
use crate::registry::Serve;
use crate::session::connections::ConnId;
use crate::session::messages::{Disconnect, FromClient, Join};
use crate::session::Session;
use crate::AppState;
use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use serde_json::{json, Value};
use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Malformed frames tolerated before the socket is closed with 4008.
const MAX_OFFENCES: u32 = 5;
/// Rate-limited messages tolerated (per burst window) before 4008.
const MAX_FLOOD: u32 = 50;

enum State {
    AwaitingJoin,
    Joining,
    Joined { session: Addr<Session> },
    Closed,
}

/// See the module docs.
pub struct Socket {
    id: ConnId,
    state: State,
    outbox: Arc<Outbox>,
    app: web::Data<AppState>,
    bucket: TokenBucket,
    offences: u32,
    flood: u32,
    /// A fragmented text message being reassembled.
    partial: Option<Vec<u8>>,
    partial_too_big: bool,
    /// The client's address, for admission control.
    ip: IpAddr,
}

/// The descriptor of the TCP connection a request arrived on, put in the
/// connection's data by `on_connect` (`crate::start`). It is cleared when
/// actix drops the connection's data, which happens on the connection's own
/// thread, before actix closes the socket; so while it holds a descriptor,
/// that descriptor is this connection's.
pub struct ConnFd(Rc<Cell<Option<RawFd>>>);

impl ConnFd {
    pub fn new(fd: RawFd) -> Self {
        ConnFd(Rc::new(Cell::new(Some(fd))))
    }
}

impl Drop for ConnFd {
    fn drop(&mut self) {
        self.0.set(None);
    }
}

/// Aborts the TCP connection on `fd` if it is still the one to `peer`:
/// SO_LINGER 0 (closing sends a reset and frees the kernel's buffers at
/// once, whatever the peer has not read) and a shutdown, which wakes actix's
/// dispatcher with an error so that it drops (closes) the connection.
fn abort(fd: RawFd, peer: Option<SocketAddr>) -> bool {
    if fd < 0 {
        return false;
    }
    // SAFETY: `fd` comes from a live `ConnFd`, which is cleared on this thread
    // before actix closes the descriptor, so it is open and this connection's;
    // the peer check below guards that once more. The borrow does not
    // outlive this function and never closes the descriptor.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let sock = socket2::SockRef::from(&borrowed);
    match sock.peer_addr() {
        Ok(a) if a.as_socket() == peer => {}
        _ => return false,
    }
    let _ = sock.set_linger(Some(Duration::ZERO));
    sock.shutdown(std::net::Shutdown::Both).is_ok()
}

/// Watches one WebSocket's connection from its worker thread: once the
/// server has closed it (or its socket actor ended), the connection has
/// `grace` to go away by itself; if it is still there (a peer that stopped
/// reading keeps the close frame, and the kernel's send buffer, queued
/// forever), it is aborted.
fn spawn_reaper(req: &HttpRequest, outbox: Arc<Outbox>, grace: Duration, app: web::Data<AppState>) {
    let Some(conn) = req.conn_data::<ConnFd>() else {
        return;
    };
    let fd = conn.0.clone();
    let peer = req.peer_addr();
    actix_rt::spawn(async move {
        outbox.ended().await;
        drop(outbox);
        actix_rt::time::sleep(grace).await;
        if let Some(raw) = fd.get() {
            if abort(raw, peer) {
                app.metrics.aborted_connections.fetch_add(1, Relaxed);
                log::debug!("aborted a connection that outlived its close by {grace:?}");
            }
        }
    });
}

/// `GET /ws`: checks the origin and upgrades.
pub async fn upgrade(
    req: HttpRequest,
    stream: web::Payload,
    app: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let origin = req
        .headers()
        .get(actix_web::http::header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    if !app.cfg.origin_allowed(origin) {
        app.metrics.error(ErrorCode::Forbidden);
        return Ok(HttpResponse::Forbidden().json(json!({
            "error": {"code": "FORBIDDEN", "message": "origin not allowed"}
        })));
    }
    let ip = app.admission.client_ip(&req);
    if let Err(refused) = app.admission.check(Action::Upgrade, ip, &app.metrics) {
        return Ok(actix_web::ResponseError::error_response(&refused));
    }
    let cfg = &app.cfg;
    if app.metrics.sockets_open.load(Relaxed) >= cfg.max_connections as i64 {
        app.metrics.error(ErrorCode::RateLimited);
        return Ok(HttpResponse::ServiceUnavailable()
            .insert_header((actix_web::http::header::RETRY_AFTER, "5"))
            .json(json!({
                "error": {"code": "RATE_LIMITED", "message": "server at its connection limit; retry later"}
            })));
    }
    let outbox = Arc::new(Outbox::new(cfg.outbox_bytes));
    let socket = Socket {
        id: NEXT_CONN.fetch_add(1, Relaxed),
        state: State::AwaitingJoin,
        outbox: outbox.clone(),
        bucket: TokenBucket::new(cfg.msg_rate, cfg.msg_burst),
        app: app.clone(),
        offences: 0,
        flood: 0,
        partial: None,
        partial_too_big: false,
        ip,
    };
    // Frames a little over the limit get BAD_MESSAGE and the socket lives;
    // frames far over it end the stream.
    let hard_limit = cfg.max_frame_bytes.saturating_mul(16).max(1 << 20);
    let resp = ws::WsResponseBuilder::new(socket, &req, stream)
        .frame_size(hard_limit)
        .start()?;
    spawn_reaper(&req, outbox, cfg.close_grace(), app.clone());
    Ok(resp)
}

impl Socket {
    fn send_error(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        id: Option<&Value>,
        code: ErrorCode,
        msg: &str,
    ) {
        self.app.metrics.error(code);
        self.app.metrics.messages_out.fetch_add(1, Relaxed);
        ctx.text(error_frame(id, code, msg));
    }

    /// Closes from this side, telling the session.
    fn close(&mut self, ctx: &mut ws::WebsocketContext<Self>, code: u16, reason: &str) {
        if matches!(self.state, State::Closed) {
            return;
        }
        self.leave_session();
        self.state = State::Closed;
        write_close(ctx, code, reason);
    }

    fn leave_session(&mut self) {
        if let State::Joined { session, .. } = &self.state {
            session.do_send(Disconnect { conn: self.id });
        }
    }

    /// A malformed frame: error reply, and close after repeated offences.
    fn offence(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        id: Option<&Value>,
        code: ErrorCode,
        msg: &str,
    ) {
        self.send_error(ctx, id, code, msg);
        self.offences += 1;
        if self.offences >= MAX_OFFENCES {
            self.close(ctx, close::POLICY, "too many malformed messages");
        }
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        self.app.metrics.messages_in.fetch_add(1, Relaxed);
        if matches!(self.state, State::Closed) {
            return;
        }
        if !self.bucket.take() {
            self.send_error(ctx, None, ErrorCode::RateLimited, "slow down");
            self.flood += 1;
            if self.flood >= MAX_FLOOD {
                self.close(ctx, close::POLICY, "message rate limit exceeded");
            }
            return;
        }
        self.flood = 0;
        if text.len() > self.app.cfg.max_frame_bytes {
            let msg = format!("frame over {} bytes", self.app.cfg.max_frame_bytes);
            self.offence(ctx, None, ErrorCode::BadMessage, &msg);
            return;
        }
        let (id, parsed) = protocol::parse_client(text);
        let msg = match parsed {
            Ok(m) => m,
            Err(e) => {
                let code = e.code();
                let text = e.to_string();
                let malformed_join = matches!(e, ParseError::BadData { kind: "join", .. });
                if malformed_join && matches!(self.state, State::AwaitingJoin) {
                    self.send_error(ctx, id.as_ref(), code, &text);
                    self.close(ctx, close::PROTOCOL, "malformed join");
                } else if code == ErrorCode::BadMessage {
                    self.offence(ctx, id.as_ref(), code, &text);
                } else {
                    self.send_error(ctx, id.as_ref(), code, &text);
                }
                return;
            }
        };
        match msg {
            ClientMessage::Ping => {
                self.app.metrics.messages_out.fetch_add(1, Relaxed);
                ctx.text(reply_frame(
                    "pong",
                    id.as_ref(),
                    json!({"serverTime": protocol::now_ms()}),
                ));
            }
            ClientMessage::Join(join) => match self.state {
                State::AwaitingJoin => self.join(join, id, ctx),
                _ => {
                    self.send_error(ctx, id.as_ref(), ErrorCode::BadRequest, "already joined");
                    self.close(ctx, close::PROTOCOL, "join sent twice");
                }
            },
            other => match &self.state {
                State::Joined { session, .. } => {
                    // The session's mailbox is bounded: a full one refuses
                    // rather than queueing without limit (the client retries).
                    let msg = FromClient {
                        conn: self.id,
                        id: id.clone(),
                        msg: other,
                    };
                    if let Err(SendError::Full(_)) = session.try_send(msg) {
                        self.app.metrics.mailbox_full.fetch_add(1, Relaxed);
                        self.send_error(
                            ctx,
                            id.as_ref(),
                            ErrorCode::RateLimited,
                            "the session is busy; retry in a moment",
                        );
                    }
                }
                _ => self.send_error(ctx, id.as_ref(), ErrorCode::NotJoined, "send join first"),
            },
        }
    }

    fn join(&mut self, join: JoinData, id: Option<Value>, ctx: &mut ws::WebsocketContext<Self>) {
        let claims: Option<Claims> = match &join.token {
            Some(t) => match self.app.auth.verify(t, &join.session_code) {
                Ok(c) => Some(c),
                Err(e) => {
                    self.send_error(ctx, id.as_ref(), ErrorCode::Unauthorized, &e.to_string());
                    self.close(ctx, close::UNAUTHORIZED, "invalid token");
                    return;
                }
            },
            None => None,
        };
        if join.role != Role::Player && join.name.is_some() {
            self.send_error(
                ctx,
                id.as_ref(),
                ErrorCode::BadRequest,
                "only players join by name",
            );
            self.close(ctx, close::PROTOCOL, "malformed join");
            return;
        }
        let new_player = join.role == Role::Player && join.token.is_none() && join.name.is_some();
        if new_player {
            if let Err(refused) =
                self.app
                    .admission
                    .check(Action::WsJoin, self.ip, &self.app.metrics)
            {
                // Counted by admission; the socket stays, awaiting a join.
                self.app.metrics.messages_out.fetch_add(1, Relaxed);
                ctx.text(error_frame(
                    id.as_ref(),
                    ErrorCode::RateLimited,
                    &refused.to_string(),
                ));
                return;
            }
        }
        self.state = State::Joining;
        let registry = self.app.registry.clone();
        let msg = Join {
            conn: self.id,
            role: join.role,
            claims,
            name: if join.token.is_some() {
                None
            } else {
                join.name
            },
            since: join.since,
            device_id: join.device_id,
            team: join.team,
            reply_id: id.clone(),
            outbox: self.outbox.clone(),
            caught_up: false,
            older: None,
        };
        let code = join.session_code;
        let fut = async move {
            // In cluster mode, a session another node owns is served here
            // as an edge.
            let found = registry
                .send(Serve { code: code.clone() })
                .await
                .map_err(|_| ApiError::unavailable())??;
            let Some(session) = found else {
                return Err(ApiError::not_found());
            };
            let joined = session.send(msg).await??;
            Ok::<_, ApiError>((session, joined))
        };
        ctx.wait(fut.into_actor(self).map(move |res, act, ctx| match res {
            Ok((session, joined)) => {
                log::debug!(
                    "socket {} joined as {:?} {:?}",
                    act.id,
                    joined.role,
                    joined.player
                );
                act.state = State::Joined { session };
            }
            Err(e) => {
                act.state = State::AwaitingJoin;
                act.send_error(ctx, id.as_ref(), e.code, &e.message);
                // Nothing was saved: the client may try the join again.
                // Nobody serves the session at the moment (a takeover under
                // way): reconnect (1001) and try again.
                if e == crate::cluster::unowned() {
                    act.close(ctx, close::GOING_AWAY, &e.message);
                } else if e.code != ErrorCode::Unavailable {
                    act.close(ctx, e.code.join_close(), &e.message);
                }
            }
        }));
    }

    /// Writes frames taken from the outbox.
    fn write(&mut self, frames: Vec<OutFrame>, ctx: &mut ws::WebsocketContext<Self>) {
        for frame in frames {
            match frame {
                OutFrame::Text(t) => ctx.text(t),
                OutFrame::Ping => ctx.ping(b""),
                OutFrame::Close(code, reason) => {
                    // The session closed us and already forgot this connection.
                    self.state = State::Closed;
                    write_close(ctx, code, &reason);
                    return;
                }
            }
        }
    }
}

impl Actor for Socket {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.app.metrics.sockets_open.fetch_add(1, Relaxed);
        ctx.add_stream(Frames(self.outbox.clone()));
        ctx.text(reply_frame(
            "connection:established",
            None,
            json!({
                "connectionId": self.id.to_string(),
                "protocolVersion": protocol::PROTOCOL_VERSION,
                "heartbeatIntervalMs": self.app.cfg.heartbeat_ms,
            }),
        ));
        ctx.run_later(self.app.cfg.join_timeout(), |act, ctx| {
            if matches!(act.state, State::AwaitingJoin | State::Joining) {
                act.close(ctx, close::PROTOCOL, "no join in time");
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.app.metrics.sockets_open.fetch_sub(1, Relaxed);
        self.leave_session();
        self.outbox.mark_ended();
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // Also when the actor never ran: the reaper must not wait forever.
        self.outbox.mark_ended();
    }
}

impl StreamHandler<Vec<OutFrame>> for Socket {
    fn handle(&mut self, frames: Vec<OutFrame>, ctx: &mut Self::Context) {
        self.write(frames, ctx);
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for Socket {
    fn handle(&mut self, item: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.outbox.touch();
        let msg = match item {
            Ok(m) => m,
            Err(e) => {
                log::debug!("socket {}: protocol error: {e}", self.id);
                let code = match e {
                    ws::ProtocolError::Overflow => 1009,
                    _ => 1002,
                };
                self.close(ctx, code, "protocol error");
                return;
            }
        };
        match msg {
            ws::Message::Text(t) => self.on_text(&t, ctx),
            ws::Message::Binary(_) => self.offence(
                ctx,
                None,
                ErrorCode::BadMessage,
                "binary frames are not accepted",
            ),
            ws::Message::Ping(p) => ctx.pong(&p),
            ws::Message::Pong(_) | ws::Message::Nop => {}
            ws::Message::Close(_) => {
                self.leave_session();
                self.state = State::Closed;
                ctx.close(None);
                ctx.stop();
            }
            ws::Message::Continuation(item) => self.on_fragment(item, ctx),
        }
    }
}

impl Socket {
    fn on_fragment(&mut self, item: actix_http::ws::Item, ctx: &mut ws::WebsocketContext<Self>) {
        let limit = self.app.cfg.max_frame_bytes;
        let append = |this: &mut Self, bytes: &[u8]| {
            if let Some(buf) = this.partial.as_mut() {
                if buf.len() + bytes.len() > limit {
                    this.partial_too_big = true;
                    buf.clear();
                } else if !this.partial_too_big {
                    buf.extend_from_slice(bytes);
                }
            }
        };
        match item {
            actix_http::ws::Item::FirstText(b) => {
                self.partial = Some(Vec::new());
                self.partial_too_big = false;
                append(self, &b);
            }
            actix_http::ws::Item::FirstBinary(_) => {
                self.partial = None;
                self.offence(
                    ctx,
                    None,
                    ErrorCode::BadMessage,
                    "binary frames are not accepted",
                );
            }
            actix_http::ws::Item::Continue(b) => append(self, &b),
            actix_http::ws::Item::Last(b) => {
                append(self, &b);
                let Some(buf) = self.partial.take() else {
                    return;
                };
                if self.partial_too_big {
                    let msg = format!("frame over {limit} bytes");
                    self.offence(ctx, None, ErrorCode::BadMessage, &msg);
                } else {
                    match String::from_utf8(buf) {
                        Ok(text) => self.on_text(&text, ctx),
                        Err(_) => self.offence(ctx, None, ErrorCode::BadMessage, "invalid UTF-8"),
                    }
                }
            }
        }
    }
}

/// Writes a close frame and stops the actor.
fn write_close(ctx: &mut ws::WebsocketContext<Socket>, code: u16, reason: &str) {
    ctx.close(Some(ws::CloseReason {
        code: ws::CloseCode::from(code),
        description: (!reason.is_empty()).then(|| reason.to_string()),
    }));
    ctx.stop();
}
