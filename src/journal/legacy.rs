//! Converts a journal written by the first release (which kept commands,
//! not facts) into the fact log, once, when the database is opened. Each
//! command is decided by this build, exactly as that release replayed it on
//! every start, and the resulting facts become the session's records; from
//! then on nothing is ever re-decided.

use crate::game::state::Settings;
use crate::game::{Command, GameState};
use crate::store::StoreError;
use rusqlite::{params, Connection};

/// Seqs skipped for a converted session: the first release sent events it
/// never journaled, so seq continues above anything it could have sent.
const LEGACY_SEQ_GAP: u64 = 100_000;

/// Converts every session that still has commands; a no-op afterwards.
pub fn convert(conn: &mut Connection) -> Result<(), StoreError> {
    let pending: i64 = conn.query_row("SELECT count(*) FROM commands", [], |r| r.get(0))?;
    if pending == 0 {
        return Ok(());
    }
    let tx = conn.transaction()?;
    let sessions: Vec<(String, String, String, i64)> = tx
        .prepare("SELECT code, title, settings, seq FROM sessions WHERE code IN (SELECT DISTINCT code FROM commands)")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    for (code, title, settings, seq) in sessions {
        let settings: Settings = serde_json::from_str(&settings).unwrap_or_default();
        let mut state = GameState::new(code.clone(), title, settings);
        let cmds: Vec<(i64, i64, String)> = tx
            .prepare("SELECT n, seq, cmd FROM commands WHERE code = ?1 ORDER BY n")?
            .query_map(params![code], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let mut pos = 0u64;
        let mut last_seq = seq.max(0) as u64;
        for (n, s, text) in cmds {
            last_seq = last_seq.max(s as u64);
            let cmd: Command = serde_json::from_str(&text).map_err(|e| StoreError::Unreadable {
                code: code.clone(),
                pos: n as u64,
                reason: format!("first-release command: {e}"),
            })?;
            let facts = match state.decide(cmd) {
                Ok(d) => d.facts,
                Err(e) => {
                    // The first release skipped these on replay too.
                    log::warn!("session {code}: converted command {n} was refused: {e}");
                    continue;
                }
            };
            if facts.is_empty() {
                continue;
            }
            for f in &facts {
                state.evolve(f);
            }
            pos += 1;
            let body = serde_json::to_vec(&facts).unwrap_or_default();
            tx.execute(
                "INSERT INTO facts (code, pos, v, epoch, body) VALUES (?1, ?2, ?3, 1, ?4)",
                params![
                    code,
                    pos as i64,
                    crate::game::fact::version_of(&facts),
                    body
                ],
            )?;
        }
        tx.execute(
            "UPDATE sessions SET pos = ?2, seq = ?3 WHERE code = ?1",
            params![code, pos as i64, (last_seq + LEGACY_SEQ_GAP) as i64],
        )?;
        log::info!("session {code}: converted {pos} first-release commands to facts");
    }
    tx.execute("DELETE FROM commands", [])?;
    tx.commit()?;
    Ok(())
}
