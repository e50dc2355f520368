//! The pure game core: quiz rules as plain Rust types and functions.
//!
//! Nothing here knows about actors, sockets, logs or wire codes. The session
//! actor asks [`GameState::decide`] what a [`Command`] would change, records
//! the resulting [`Fact`]s in the log, applies them with
//! [`GameState::evolve`] and fans out the [`GameEvent`]s that returns;
//! everything in here is unit-tested without a runtime.

pub mod command;
pub mod decide;
pub mod error;
pub mod events;
pub mod evolve;
pub mod fact;
pub mod handled;
pub mod leaderboard;
pub mod marking;
pub mod names;
pub mod quiz;
pub mod ranking;
pub mod results;
pub mod scoring;
pub mod standings;
pub mod state;
pub mod team_decide;
pub mod team_results;
pub mod teams;
pub mod view;

pub use command::{Command, Outcome};
pub use decide::Decision;
pub use error::GameError;
pub use events::{Audience, GameEvent};
pub use fact::Fact;
pub use state::{GameState, Phase, Role};

/// Identifies a player within one session.
pub type PlayerId = String;

#[cfg(test)]
mod replay_tests;
#[cfg(test)]
mod show_tests;
#[cfg(test)]
mod team_tests;
