//! Displays: who may be one, and how many. A display is the projector: it
//! shows public state, the lobby wall and a coalesced answered count
//! (`boards.rs`), never the MC's per-answer or presence stream. The MC's
//! display link carries a display token (a signed token with role
//! `display` for this session); a display joining with the session code
//! alone, as contract v1 allows, is still admitted while fewer than
//! `--tokenless-displays` such displays are connected, so old display links
//! and v1 clients keep working but a crowd of fake projectors cannot join.

use super::messages::DisplayLink;
use super::Session;
use crate::error::ApiError;
use crate::game::Role;
use crate::protocol::ErrorCode;
use actix::prelude::*;

impl Session {
    /// Displays per session are capped (`--max-displays`); of them, only
    /// `--tokenless-displays` may come with the session code alone.
    pub(super) fn admit_display(&self, tokenless: bool) -> Result<(), ApiError> {
        let cfg = &self.env.cfg;
        let (all, without) = self.conns.displays();
        if tokenless && without >= cfg.tokenless_displays {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "display token required: open the display link from the MC panel",
            ));
        }
        if all >= cfg.max_displays {
            return Err(ApiError::new(
                ErrorCode::SessionFull,
                format!("this session already has {all} displays"),
            ));
        }
        Ok(())
    }
}

impl Handler<DisplayLink> for Session {
    type Result = Result<String, ApiError>;

    /// A fresh display token, for the MC only.
    fn handle(&mut self, msg: DisplayLink, _: &mut Context<Self>) -> Self::Result {
        if self.caller(Some(&msg.claims))?.0 != Role::Mc {
            return Err(ApiError::forbidden());
        }
        Ok(self
            .env
            .auth
            .issue(self.code(), &self.nonce, Role::Display, None))
    }
}
