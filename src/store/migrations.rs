//! The schema, as numbered migrations (tracked in SQLite's `user_version`).
//! Never edit a migration that has shipped: add the next one.

use rusqlite::Connection;
use rusqlite_migration::{Migrations, M};

/// 1: the schema of the first release (commands journal), so databases it
/// wrote and new ones start from the same place. 2: the fact log. 3: the
/// quiz library (keyed by the SHA-256 of a library key, never the key) and
/// uploaded images, content-addressed.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS sessions (
                code TEXT PRIMARY KEY, nonce TEXT NOT NULL, title TEXT NOT NULL,
                settings TEXT NOT NULL, created_ms INTEGER NOT NULL,
                ended_ms INTEGER, seq INTEGER NOT NULL DEFAULT 0);
             CREATE TABLE IF NOT EXISTS commands (
                code TEXT NOT NULL, n INTEGER NOT NULL, seq INTEGER NOT NULL, cmd TEXT NOT NULL,
                PRIMARY KEY (code, n)) WITHOUT ROWID;",
        ),
        M::up(
            "ALTER TABLE sessions ADD COLUMN pos INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE sessions ADD COLUMN epoch INTEGER NOT NULL DEFAULT 1;
             CREATE TABLE facts (
                code TEXT NOT NULL, pos INTEGER NOT NULL, v INTEGER NOT NULL,
                epoch INTEGER NOT NULL, body BLOB NOT NULL,
                PRIMARY KEY (code, pos)) WITHOUT ROWID;
             CREATE TABLE events (
                code TEXT NOT NULL, seq INTEGER NOT NULL, pos INTEGER NOT NULL,
                audience TEXT NOT NULL, frame TEXT NOT NULL,
                PRIMARY KEY (code, seq)) WITHOUT ROWID;
             CREATE TABLE snapshots (
                code TEXT PRIMARY KEY, pos INTEGER NOT NULL, seq INTEGER NOT NULL,
                v INTEGER NOT NULL, body BLOB NOT NULL);",
        ),
        M::up(
            "CREATE TABLE quizzes (
                id TEXT PRIMARY KEY, library TEXT NOT NULL, name TEXT NOT NULL,
                body TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
             CREATE INDEX quizzes_by_library ON quizzes (library, updated_ms);
             CREATE TABLE images (
                hash TEXT PRIMARY KEY, ext TEXT NOT NULL, width INTEGER NOT NULL,
                height INTEGER NOT NULL, body BLOB NOT NULL, created_ms INTEGER NOT NULL);",
        ),
    ])
}

/// Brings the database to the latest schema.
pub fn apply(conn: &mut Connection) -> Result<(), rusqlite_migration::Error> {
    migrations().to_latest(conn)
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(super::migrations().validate().is_ok());
    }
}
