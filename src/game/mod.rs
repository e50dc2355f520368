//! The pure game core: quiz rules as plain Rust types and functions.
//!
//! Nothing here knows about actors, sockets or disks. The session actor feeds
//! [`Command`]s to [`GameState::apply`] and fans out the [`GameEvent`]s it
//! returns; everything in here is unit-tested without a runtime.

pub mod error;
pub mod events;
pub mod leaderboard;
pub mod marking;
pub mod names;
pub mod quiz;
pub mod results;
pub mod scoring;
pub mod state;

pub use error::GameError;
pub use events::{Audience, GameEvent};
pub use state::{Command, GameState, Outcome, Phase, Role};

/// Identifies a player within one session.
pub type PlayerId = String;
