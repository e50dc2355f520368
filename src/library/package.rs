//! The quiz package: one zip file holding `quiz.json` and the pictures it
//! uses under `images/`, so a quiz moves between servers intact. In the
//! package a question's `imageUrl` and each of its `choiceImages` name their
//! file (`images/<hash>.png`); importing stores each picture (checked like an
//! upload) and points the question or choice back at it under `/media/`.

use super::images::{Format, ImageError};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{Cursor, Read, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

pub const QUIZ_FILE: &str = "quiz.json";
pub const IMAGE_DIR: &str = "images/";
/// Most files a package may hold (a quiz has at most a few hundred pictures).
const MAX_ENTRIES: usize = 2000;

/// Why a package could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("not a quiz package (a zip file with quiz.json) or a quiz JSON file: {0}")]
    NotAPackage(String),
    #[error("the package has no quiz.json")]
    NoQuiz,
    #[error("quiz.json is not valid JSON: {0}")]
    BadJson(#[from] serde_json::Error),
    #[error("the package unpacks to more than {0} bytes")]
    TooLarge(u64),
    #[error("the package holds more than {MAX_ENTRIES} files")]
    TooManyFiles,
    #[error("{field}: the package has no file {name}")]
    MissingImage { field: String, name: String },
    #[error("{field}: {name}: {err}")]
    Image {
        field: String,
        name: String,
        err: ImageError,
    },
    #[error("could not write the package: {0}")]
    Write(String),
}

impl PackageError {
    /// The quiz field the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            PackageError::MissingImage { field, .. } | PackageError::Image { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }
}

/// `/media/<sha256>.<ext>` -> (hash, format): an uploaded picture.
pub fn media_ref(url: &str) -> Option<(&str, Format)> {
    let file = url.strip_prefix("/media/")?;
    let (hash, ext) = file.split_once('.')?;
    let ok = hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    Some((hash, Format::from_ext(ext)?)).filter(|_| ok)
}

/// Every picture URL in a quiz as JSON (each question's `imageUrl` and its
/// `choiceImages`), with its field path.
pub fn image_urls(quiz: &mut Value) -> Vec<(String, &mut Value)> {
    let mut out = Vec::new();
    let Some(rounds) = quiz.get_mut("rounds").and_then(Value::as_array_mut) else {
        return out;
    };
    for (ri, r) in rounds.iter_mut().enumerate() {
        let Some(qs) = r.get_mut("questions").and_then(Value::as_array_mut) else {
            continue;
        };
        for (qi, q) in qs.iter_mut().enumerate() {
            let Some(q) = q.as_object_mut() else {
                continue;
            };
            for (key, v) in q.iter_mut() {
                match (key.as_str(), v) {
                    ("imageUrl", u @ Value::String(_)) => {
                        out.push((format!("rounds[{ri}].questions[{qi}].imageUrl"), u));
                    }
                    ("choiceImages", Value::Array(list)) => {
                        for (ci, u) in list.iter_mut().enumerate().filter(|(_, u)| u.is_string()) {
                            out.push((
                                format!("rounds[{ri}].questions[{qi}].choiceImages[{ci}]"),
                                u,
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// Writes a package: `quiz` (its uploaded pictures already renamed to
/// `images/...`) and `images` (file name under `images/`, bytes).
pub fn pack(quiz: &Value, images: &[(String, Vec<u8>)]) -> Result<Vec<u8>, PackageError> {
    let werr = |e: &dyn std::fmt::Display| PackageError::Write(e.to_string());
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.set_comment("quizcast quiz package, version 1");
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    // Pictures are compressed already.
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    zip.start_file(QUIZ_FILE, deflated).map_err(|e| werr(&e))?;
    let json = serde_json::to_vec_pretty(quiz)?;
    zip.write_all(&json).map_err(|e| werr(&e))?;
    for (name, bytes) in images {
        zip.start_file(format!("{IMAGE_DIR}{name}"), stored)
            .map_err(|e| werr(&e))?;
        zip.write_all(bytes).map_err(|e| werr(&e))?;
    }
    Ok(zip.finish().map_err(|e| werr(&e))?.into_inner())
}

/// What a package holds: the quiz as JSON and its pictures by file name
/// (under `images/`, without the prefix).
pub struct Unpacked {
    pub quiz: Value,
    pub images: HashMap<String, Vec<u8>>,
}

/// Reads a package, or a bare quiz JSON file (then without pictures).
/// Reads at most `max_total` uncompressed bytes in all, whatever the zip's
/// headers claim (a zip bomb stops there).
pub fn unpack(bytes: &[u8], max_total: u64) -> Result<Unpacked, PackageError> {
    if !bytes.starts_with(b"PK\x03\x04") {
        let quiz = serde_json::from_slice(bytes)
            .map_err(|e| PackageError::NotAPackage(format!("as JSON: {e}")))?;
        return Ok(Unpacked {
            quiz,
            images: HashMap::new(),
        });
    }
    let mut zip = ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| PackageError::NotAPackage(e.to_string()))?;
    if zip.len() > MAX_ENTRIES {
        return Err(PackageError::TooManyFiles);
    }
    let mut budget = max_total;
    let mut quiz = None;
    let mut images = HashMap::new();
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| PackageError::NotAPackage(e.to_string()))?;
        if f.is_dir() {
            continue;
        }
        let name = f.name().to_string();
        let wanted = name == QUIZ_FILE || name.starts_with(IMAGE_DIR);
        if !wanted {
            continue;
        }
        let mut buf = Vec::new();
        (&mut f)
            .take(budget + 1)
            .read_to_end(&mut buf)
            .map_err(|e| PackageError::NotAPackage(format!("{name}: {e}")))?;
        if buf.len() as u64 > budget {
            return Err(PackageError::TooLarge(max_total));
        }
        budget -= buf.len() as u64;
        if name == QUIZ_FILE {
            quiz = Some(serde_json::from_slice(&buf)?);
        } else if let Some(file) = name.strip_prefix(IMAGE_DIR) {
            images.insert(file.to_string(), buf);
        }
    }
    Ok(Unpacked {
        quiz: quiz.ok_or(PackageError::NoQuiz)?,
        images,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_package_round_trips() {
        let quiz = json!({"title": "T", "rounds": [{"id": "r1", "name": "R", "questions": [
            {"id": "q1", "kind": "text", "prompt": "?", "answer": "a", "imageUrl": "images/x.png"}]}]});
        let zip = pack(&quiz, &[("x.png".into(), b"png bytes".to_vec())]).unwrap();
        let u = unpack(&zip, 1 << 20).unwrap();
        assert_eq!(u.quiz, quiz);
        assert_eq!(u.images["x.png"], b"png bytes");
        assert!(matches!(unpack(&zip, 10), Err(PackageError::TooLarge(10))));
        let bare = unpack(br#"{"rounds": []}"#, 100).unwrap();
        assert_eq!(bare.quiz, json!({"rounds": []}));
        assert!(matches!(
            unpack(b"PK\x03\x04 garbage", 100),
            Err(PackageError::NotAPackage(_))
        ));
    }

    #[test]
    fn choice_pictures_are_found_with_their_paths() {
        let mut quiz = json!({"rounds": [{"id": "r1", "name": "R", "questions": [
            {"id": "q1", "kind": "text", "prompt": "?", "answer": "a", "imageUrl": "/q.png"},
            {"id": "q2", "kind": "choice", "prompt": "?", "choices": ["a", "b", "c"],
             "choiceImages": ["/a.png", null, "/c.png"], "answer": 0}]}]});
        let mut found: Vec<(String, String)> = image_urls(&mut quiz)
            .into_iter()
            .map(|(f, u)| (f, u.as_str().unwrap().to_string()))
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                ("rounds[0].questions[0].imageUrl", "/q.png"),
                ("rounds[0].questions[1].choiceImages[0]", "/a.png"),
                ("rounds[0].questions[1].choiceImages[2]", "/c.png"),
            ]
            .map(|(f, u)| (f.to_string(), u.to_string()))
        );
        for (_, u) in image_urls(&mut quiz) {
            *u = Value::String("images/x.png".into());
        }
        assert_eq!(
            quiz["rounds"][0]["questions"][1]["choiceImages"],
            json!(["images/x.png", null, "images/x.png"])
        );
    }

    #[test]
    fn media_refs_are_exact() {
        let h = "a".repeat(64);
        assert_eq!(
            media_ref(&format!("/media/{h}.jpg")),
            Some((h.as_str(), Format::Jpeg))
        );
        assert_eq!(media_ref("/media/eiffel.svg"), None);
        assert_eq!(media_ref(&format!("/media/{h}.svg")), None);
        assert_eq!(media_ref("https://x.example/a.png"), None);
    }
}
