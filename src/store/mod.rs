//! The embedded SQLite database: its schema (versioned migrations), the
//! server's signing secret (so tokens survive a restart). The session log
//! that lives in it is [`crate::journal::sqlite`].

mod migrations;

use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("database directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("database schema: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// The cluster log (NATS JetStream) could not be reached or used.
    #[error(transparent)]
    Cluster(#[from] crate::journal::nats::ClusterError),
    /// A record this build cannot read: never skipped silently.
    #[error(
        "session {code}: cannot read the log at position {pos}: {reason} \
         (start with --quarantine {code} to set this session aside and start the rest)"
    )]
    Unreadable {
        code: String,
        pos: u64,
        reason: String,
    },
}

/// Opens (creating or upgrading when needed) the database at `path`.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    migrations::apply(&mut conn)?;
    Ok(conn)
}

/// The signing secret: the configured one, or one generated on first start
/// and kept in the database.
pub fn secret(conn: &Connection, configured: Option<&str>) -> Result<String, StoreError> {
    if let Some(s) = configured.filter(|s| !s.is_empty()) {
        return Ok(s.to_string());
    }
    let existing: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'secret'", [], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(s) = existing {
        return Ok(s);
    }
    let s = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('secret', ?1)",
        params![s],
    )?;
    Ok(s)
}

/// This node's id in the cluster: the configured one, or one generated on
/// first start and kept in the database (a restart keeps it, so the node
/// recognises its own leases).
pub fn node_id(conn: &Connection, configured: Option<&str>) -> Result<String, StoreError> {
    if let Some(s) = configured.map(str::trim).filter(|s| !s.is_empty()) {
        return Ok(s.to_string());
    }
    let existing: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'node_id'", [], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(s) = existing {
        return Ok(s);
    }
    let s = uuid::Uuid::new_v4().simple().to_string();
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('node_id', ?1)",
        params![s],
    )?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_id_is_kept_unless_one_is_configured() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir.path().join("q.db")).unwrap();
        let first = node_id(&db, None).unwrap();
        assert_eq!(node_id(&db, Some("  ")).unwrap(), first);
        assert_eq!(node_id(&db, Some("n2")).unwrap(), "n2");
        let other = open(&dir.path().join("other.db")).unwrap();
        assert_ne!(node_id(&other, None).unwrap(), first);
    }

    #[test]
    fn the_generated_secret_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/q.db");
        let a = secret(&open(&path).unwrap(), None).unwrap();
        let b = secret(&open(&path).unwrap(), None).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            secret(&open(&path).unwrap(), Some("given")).unwrap(),
            "given"
        );
    }
}
