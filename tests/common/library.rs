//! Helpers for the quiz library's tests: requests with a library key, test
//! pictures, uploads.

use super::TestServer;
use image::{DynamicImage, ImageFormat, RgbImage};
use serde_json::Value;
use std::io::Cursor;
use std::time::Duration;

/// A request with a library key and a raw or JSON body; (status, headers, body).
pub async fn call(
    srv: &TestServer,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
    headers: &[(&str, &str)],
) -> (u16, awc::http::header::HeaderMap, Vec<u8>) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let url = format!("{}{}", srv.base, path);
    let mut req = client.request(method.parse().unwrap(), url);
    if let Some(k) = key {
        req = req.insert_header(("X-Library-Key", k));
    }
    for h in headers {
        req = req.insert_header(*h);
    }
    let mut resp = match body {
        Some((ct, b)) => req.content_type(ct).send_body(b).await.unwrap(),
        None => req.send().await.unwrap(),
    };
    let bytes = resp.body().limit(64 << 20).await.unwrap().to_vec();
    (resp.status().as_u16(), resp.headers().clone(), bytes)
}

pub async fn json_call(
    srv: &TestServer,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let b = body.map(|v| ("application/json", v.to_string().into_bytes()));
    let (s, _, bytes) = call(srv, method, path, key, b, &[]).await;
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (s, v)
}

pub async fn new_key(srv: &TestServer) -> String {
    let (s, v) = json_call(srv, "POST", "/api/library", None, None).await;
    assert_eq!(s, 201);
    let k = v["key"].as_str().unwrap().to_string();
    assert_eq!(k.len(), 32, "128 random bits in hex");
    k
}

pub fn png(w: u32, h: u32, noise: bool) -> Vec<u8> {
    let mut seed: u32 = 2463534242;
    let img = RgbImage::from_fn(w, h, |x, y| {
        if noise {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let b = seed.to_le_bytes();
            image::Rgb([b[0], b[1], b[2]])
        } else {
            image::Rgb([(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 120])
        }
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .unwrap();
    out
}

pub async fn upload(srv: &TestServer, key: &str, ct: &str, bytes: Vec<u8>) -> (u16, Value) {
    let (s, _, b) = call(
        srv,
        "POST",
        "/api/images",
        Some(key),
        Some((ct, bytes)),
        &[],
    )
    .await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

/// A quiz package (zip) holding `quiz` as quiz.json and `files` beside it.
pub fn package(quiz: &Value, files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    w.start_file("quiz.json", opts).unwrap();
    w.write_all(quiz.to_string().as_bytes()).unwrap();
    for (name, bytes) in files {
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Imports a package into `key`'s library: the status and the JSON reply.
pub async fn import(srv: &TestServer, key: &str, bytes: Vec<u8>) -> (u16, Value) {
    let (s, _, body) = call(
        srv,
        "POST",
        "/api/library/import",
        Some(key),
        Some(("application/zip", bytes)),
        &[],
    )
    .await;
    (s, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Saves `quiz` in `key`'s library (201 asserted): the saved entry.
pub async fn save_quiz(srv: &TestServer, key: &str, quiz: &Value) -> Value {
    let (s, e) = json_call(
        srv,
        "POST",
        "/api/library/quizzes",
        Some(key),
        Some(quiz.clone()),
    )
    .await;
    assert_eq!(s, 201, "{e}");
    e
}

/// Exports a saved quiz as a package: status, headers and the zip.
pub async fn export(
    srv: &TestServer,
    key: &str,
    id: &str,
) -> (u16, actix_web::http::header::HeaderMap, Vec<u8>) {
    let path = format!("/api/library/quizzes/{id}/package");
    call(srv, "GET", &path, Some(key), None, &[]).await
}
