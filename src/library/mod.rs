//! The quiz library: quizzes saved on the server, and the pictures they use.
//!
//! There are no accounts. A library is named by a random key (128 bits) that
//! the editor keeps in the browser and shows as a link; whoever has the key
//! has the library. The database keeps only the key's SHA-256, so a copy of
//! the database does not hand out the keys. Every stored quiz passed the
//! same validation as a quiz loaded into a session ([`crate::game::quiz`]).
//!
//! Calls are blocking (SQLite); handlers run them on the blocking pool.

pub mod gc;
pub mod images;
pub mod package;

use crate::game::quiz::{self, Quiz, QuizError};
use crate::protocol::now_ms;
use images::{Format, ImageError, Processed};
use package::PackageError;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// Most quizzes one library holds.
pub const MAX_QUIZZES: usize = 1000;
/// Longest quiz name.
pub const MAX_NAME: usize = 120;

/// A library key as the client sent it, checked for shape.
#[derive(Clone)]
pub struct LibraryKey(String);

impl LibraryKey {
    /// A key of 22 to 64 URL-safe characters (a generated one is 32 hex
    /// digits, 128 random bits).
    pub fn parse(raw: &str) -> Result<Self, LibraryError> {
        let k = raw.trim();
        let ok = (22..=64).contains(&k.len())
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(LibraryKey(k.to_string()))
        } else {
            Err(LibraryError::BadKey)
        }
    }

    /// A new random key.
    pub fn generate() -> Self {
        LibraryKey(format!("{:032x}", rand::random::<u128>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the database knows the library by.
    fn scope(&self) -> String {
        images::sha256_hex(self.0.as_bytes())
    }
}

/// Why a library call failed.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("no such quiz in this library")]
    NotFound,
    #[error("a library key is needed (X-Library-Key: 22 to 64 letters, digits, - or _)")]
    BadKey,
    #[error("this library already holds {MAX_QUIZZES} quizzes; delete some first")]
    Full,
    #[error("name: must be 1 to {MAX_NAME} characters")]
    BadName,
    #[error(transparent)]
    Quiz(#[from] QuizError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// A saved quiz as listed.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub id: String,
    pub name: String,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub rounds: usize,
    pub questions: usize,
}

/// The library's database connection and limits.
pub struct Library {
    conn: Mutex<Connection>,
    /// Largest accepted picture, in bytes.
    pub max_image_bytes: usize,
    /// Largest accepted package, in bytes (compressed and unpacked).
    pub max_package_bytes: usize,
}

fn entry(id: String, name: String, created: i64, updated: i64, quiz: &Quiz) -> Entry {
    Entry {
        id,
        name,
        created_ms: created.max(0) as u64,
        updated_ms: updated.max(0) as u64,
        rounds: quiz.rounds.len(),
        questions: quiz.rounds.iter().map(|r| r.questions.len()).sum(),
    }
}

/// The name a quiz is listed under: its title, or "Untitled quiz".
fn name_of(quiz: &Quiz) -> String {
    let t: String = quiz
        .title
        .as_deref()
        .unwrap_or("")
        .trim()
        .chars()
        .take(MAX_NAME)
        .collect();
    if t.is_empty() {
        "Untitled quiz".into()
    } else {
        t
    }
}

/// A stored quiz: as it was sent (its numbers and field order kept) and as
/// parsed. Stored quizzes were valid when written; a body that no longer
/// parses is reported rather than hidden.
fn read_quiz(body: &str) -> Result<(Value, Quiz), LibraryError> {
    let raw: Value = serde_json::from_str(body).map_err(|e| QuizError {
        field: "quiz".into(),
        message: e.to_string(),
    })?;
    let quiz = quiz::parse(raw.clone())?;
    Ok((raw, quiz))
}

impl Library {
    /// Opens the library in the server's database (the schema is the
    /// store's migrations).
    pub fn open(
        path: &Path,
        max_image_bytes: usize,
        max_package_bytes: usize,
    ) -> Result<Self, crate::store::StoreError> {
        Ok(Library {
            conn: Mutex::new(crate::store::open(path)?),
            max_image_bytes,
            max_package_bytes,
        })
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every quiz of the library, most recently changed first.
    pub fn list(&self, key: &LibraryKey) -> Result<Vec<Entry>, LibraryError> {
        let db = self.db();
        let mut st = db.prepare_cached(
            "SELECT id, name, created_ms, updated_ms, body FROM quizzes
             WHERE library = ?1 ORDER BY updated_ms DESC, id",
        )?;
        let rows = st.query_map(params![key.scope()], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, c, u, body) = row?;
            let q = read_quiz(&body).map(|(_, q)| q).unwrap_or_default();
            out.push(entry(id, name, c, u, &q));
        }
        Ok(out)
    }

    /// Saves a new quiz (validated first).
    pub fn create(&self, key: &LibraryKey, raw: Value) -> Result<Entry, LibraryError> {
        let quiz = quiz::parse(raw.clone())?;
        self.insert(key, &raw, &quiz)
    }

    fn insert(&self, key: &LibraryKey, raw: &Value, quiz: &Quiz) -> Result<Entry, LibraryError> {
        let db = self.db();
        let n: i64 = db.query_row(
            "SELECT count(*) FROM quizzes WHERE library = ?1",
            params![key.scope()],
            |r| r.get(0),
        )?;
        if n as usize >= MAX_QUIZZES {
            return Err(LibraryError::Full);
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let now = now_ms() as i64;
        let name = name_of(quiz);
        db.execute(
            "INSERT INTO quizzes (id, library, name, body, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![id, key.scope(), name, raw.to_string(), now],
        )?;
        Ok(entry(id, name, now, now, quiz))
    }

    /// One quiz (as it was saved) and its listing.
    pub fn get(&self, key: &LibraryKey, id: &str) -> Result<(Entry, Value), LibraryError> {
        let row: Option<(String, i64, i64, String)> = self
            .db()
            .query_row(
                "SELECT name, created_ms, updated_ms, body FROM quizzes WHERE id = ?1 AND library = ?2",
                params![id, key.scope()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let (name, c, u, body) = row.ok_or(LibraryError::NotFound)?;
        let (raw, quiz) = read_quiz(&body)?;
        Ok((entry(id.to_string(), name, c, u, &quiz), raw))
    }

    /// Replaces a quiz (validated first; an invalid quiz changes nothing).
    /// The last write wins.
    pub fn update(&self, key: &LibraryKey, id: &str, raw: Value) -> Result<Entry, LibraryError> {
        let quiz = quiz::parse(raw.clone())?;
        let now = now_ms() as i64;
        let n = self.db().execute(
            "UPDATE quizzes SET name = ?1, body = ?2, updated_ms = max(?3, updated_ms + 1)
             WHERE id = ?4 AND library = ?5",
            params![name_of(&quiz), raw.to_string(), now, id, key.scope()],
        )?;
        if n == 0 {
            return Err(LibraryError::NotFound);
        }
        Ok(self.get(key, id)?.0)
    }

    /// Renames a quiz: its title is its name.
    pub fn rename(&self, key: &LibraryKey, id: &str, name: &str) -> Result<Entry, LibraryError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(LibraryError::BadName);
        }
        let (_, mut raw) = self.get(key, id)?;
        raw["title"] = Value::String(name.to_string());
        self.update(key, id, raw)
    }

    /// A copy of a quiz, named "… (copy)".
    pub fn copy(&self, key: &LibraryKey, id: &str) -> Result<Entry, LibraryError> {
        let (e, mut raw) = self.get(key, id)?;
        let base: String = e.name.chars().take(MAX_NAME - 7).collect();
        raw["title"] = Value::String(format!("{base} (copy)"));
        self.create(key, raw)
    }

    /// Deletes a quiz (its pictures go at the next sweep, if nothing else
    /// uses them).
    pub fn delete(&self, key: &LibraryKey, id: &str) -> Result<(), LibraryError> {
        let n = self.db().execute(
            "DELETE FROM quizzes WHERE id = ?1 AND library = ?2",
            params![id, key.scope()],
        )?;
        if n == 0 {
            return Err(LibraryError::NotFound);
        }
        Ok(())
    }

    /// Checks and stores a picture; stores nothing when it is refused.
    /// Returns the picture and whether it was new (false: deduplicated).
    pub fn store_image(&self, raw: &[u8]) -> Result<(Processed, bool), LibraryError> {
        let p = images::process(raw, self.max_image_bytes)?;
        let new = self.put_image(&p)?;
        Ok((p, new))
    }

    /// Stores a checked picture once; a picture already stored gets its
    /// upload time renewed, so the sweep's grace period starts again.
    fn put_image(&self, p: &Processed) -> Result<bool, LibraryError> {
        let db = self.db();
        let now = now_ms() as i64;
        let n = db.execute(
            "INSERT OR IGNORE INTO images (hash, ext, width, height, body, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![p.hash, p.format.ext(), p.width, p.height, p.bytes, now],
        )?;
        if n == 0 {
            db.execute(
                "UPDATE images SET created_ms = max(created_ms, ?2) WHERE hash = ?1",
                params![p.hash, now],
            )?;
        }
        Ok(n == 1)
    }

    /// A stored picture's bytes.
    pub fn image(&self, hash: &str, format: Format) -> Result<Option<Vec<u8>>, LibraryError> {
        Ok(self
            .db()
            .query_row(
                "SELECT body FROM images WHERE hash = ?1 AND ext = ?2",
                params![hash, format.ext()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// A quiz as a package: (file name, zip bytes).
    pub fn export(&self, key: &LibraryKey, id: &str) -> Result<(String, Vec<u8>), LibraryError> {
        let (e, mut json) = self.get(key, id)?;
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for (_, url) in package::image_urls(&mut json) {
            let Some((hash, format)) = url.as_str().and_then(package::media_ref) else {
                continue;
            };
            let name = format!("{hash}.{}", format.ext());
            if !files.iter().any(|(n, _)| *n == name) {
                match self.image(hash, format)? {
                    Some(bytes) => files.push((name.clone(), bytes)),
                    // Gone from this server: the URL stays as it is.
                    None => continue,
                }
            }
            *url = Value::String(format!("{}{name}", package::IMAGE_DIR));
        }
        let zip = package::pack(&json, &files)?;
        let safe: String = e
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let stem = match safe.trim_matches('-') {
            "" => "quiz",
            s => s,
        };
        Ok((format!("{stem}.quizcast.zip"), zip))
    }

    /// Imports a package (or a bare quiz JSON file) as a new quiz: its
    /// pictures are checked and stored like uploads, then the quiz is
    /// validated; nothing is saved if either fails.
    pub fn import(&self, key: &LibraryKey, bytes: &[u8]) -> Result<Entry, LibraryError> {
        let max = self.max_package_bytes as u64;
        let mut unpacked = package::unpack(bytes, max)?;
        // file name in the package -> the checked picture (a picture used
        // by several questions is checked once)
        let mut ready: std::collections::HashMap<String, Processed> = Default::default();
        for (field, url) in package::image_urls(&mut unpacked.quiz) {
            let Some(name) = url
                .as_str()
                .and_then(|u| u.strip_prefix(package::IMAGE_DIR))
                .map(str::to_string)
            else {
                continue;
            };
            if let Some(p) = ready.get(&name) {
                *url = Value::String(p.url());
                continue;
            }
            let raw = unpacked
                .images
                .get(&name)
                .ok_or_else(|| PackageError::MissingImage {
                    field: field.clone(),
                    name: name.clone(),
                })?;
            let p =
                images::process(raw, self.max_image_bytes).map_err(|err| PackageError::Image {
                    field: field.clone(),
                    name: name.clone(),
                    err,
                })?;
            *url = Value::String(p.url());
            ready.insert(name, p);
        }
        let quiz = quiz::parse(unpacked.quiz.clone())?;
        for p in ready.values() {
            self.put_image(p)?;
        }
        self.insert(key, &unpacked.quiz, &quiz)
    }
}
