//! The picture sweep: a stored picture that no saved quiz and no session in
//! the database (live, or ended and still retained) refers to is deleted,
//! once it is older than a grace period (so a picture just uploaded in the
//! editor survives until its quiz is saved). Sessions keep their quiz in
//! their log (facts and snapshots), which is searched for the picture's
//! hash; a session's log is removed when its retention ends, and with it
//! the session's claim on its pictures.

use super::Library;
use rusqlite::{params, Connection};
use std::collections::HashSet;

/// Every `/media/<sha256>` hash that `text` mentions.
fn hashes_in(text: &str, out: &mut HashSet<String>) {
    let mut rest = text;
    while let Some(i) = rest.find("/media/") {
        let tail = &rest[i + 7..];
        let hex: String = tail
            .chars()
            .take_while(|c| c.is_ascii_hexdigit())
            .take(65)
            .collect();
        if hex.len() == 64 {
            out.insert(hex.to_ascii_lowercase());
        }
        rest = tail;
    }
}

/// Deletes unreferenced pictures uploaded before `now_ms - grace_ms`;
/// returns the hashes deleted.
pub fn sweep(conn: &Connection, now_ms: u64, grace_ms: u64) -> rusqlite::Result<Vec<String>> {
    let cutoff = now_ms.saturating_sub(grace_ms) as i64;
    let candidates: Vec<String> = conn
        .prepare("SELECT hash FROM images WHERE created_ms <= ?1")?
        .query_map(params![cutoff], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mut used = HashSet::new();
    let mut st = conn.prepare("SELECT body FROM quizzes")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        hashes_in(&r.get::<_, String>(0)?, &mut used);
    }
    let mut in_log = conn.prepare(
        "SELECT EXISTS (SELECT 1 FROM facts WHERE instr(body, ?1) > 0)
             OR EXISTS (SELECT 1 FROM snapshots WHERE instr(body, ?1) > 0)",
    )?;
    let mut deleted = Vec::new();
    for hash in candidates {
        if used.contains(&hash) {
            continue;
        }
        // Log bodies are JSON bytes (BLOBs): search them as bytes.
        if in_log.query_row(params![hash.as_bytes()], |r| r.get::<_, bool>(0))? {
            continue;
        }
        conn.execute(
            "DELETE FROM images WHERE hash = ?1 AND created_ms <= ?2",
            params![hash, cutoff],
        )?;
        deleted.push(hash);
    }
    Ok(deleted)
}

impl Library {
    /// One sweep (see the module's documentation).
    pub fn sweep(&self, now_ms: u64, grace_ms: u64) -> Result<Vec<String>, super::LibraryError> {
        Ok(sweep(&self.db(), now_ms, grace_ms)?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Library, LibraryKey};
    use serde_json::json;

    fn png(shade: u8) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(8, 8, image::Rgb([shade, 0, 0]));
        let mut out = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn only_unreferenced_pictures_past_their_grace_go() {
        let dir = tempfile::tempdir().unwrap();
        let lib = Library::open(&dir.path().join("q.db"), 5 << 20, 50 << 20).unwrap();
        let key = LibraryKey::generate();
        let (in_quiz, _) = lib.store_image(&png(1)).unwrap();
        let (in_session, _) = lib.store_image(&png(2)).unwrap();
        let (orphan, new) = lib.store_image(&png(3)).unwrap();
        assert!(new);
        assert!(!lib.store_image(&png(3)).unwrap().1, "stored once");
        let q = |url: String| {
            json!({"rounds": [{"id": "r", "name": "R", "type": "picture", "questions": [
                {"id": "q", "kind": "text", "prompt": "?", "answer": "a", "imageUrl": url}]}]})
        };
        let saved = lib.create(&key, q(in_quiz.url())).unwrap();
        lib.db()
            .execute(
                "INSERT INTO facts (code, pos, v, epoch, body) VALUES ('ABCDE', 1, 1, 1, ?1)",
                [serde_json::to_vec(&q(in_session.url())).unwrap()],
            )
            .unwrap();
        let now = crate::protocol::now_ms();
        assert!(lib.sweep(now, 3_600_000).unwrap().is_empty(), "in grace");
        assert_eq!(lib.sweep(now + 10, 0).unwrap(), vec![orphan.hash.clone()]);
        assert!(lib
            .image(&in_session.hash, in_session.format)
            .unwrap()
            .is_some());
        lib.delete(&key, &saved.id).unwrap();
        assert_eq!(lib.sweep(now + 20, 0).unwrap(), vec![in_quiz.hash.clone()]);
        assert!(lib.image(&in_quiz.hash, in_quiz.format).unwrap().is_none());
    }
}
