//! The quiz library and pictures (issue 12) over real sockets: CRUD scoped
//! by the library key, refused uploads that store nothing, deduplicated
//! pictures served immutable, and a quiz package moving between servers.

mod common;

use common::library::{call, export, import, json_call, new_key, package, png, save_quiz, upload};
use common::TestServer;
use image::{DynamicImage, ImageFormat, RgbImage};
use serde_json::{json, Value};
use std::io::Cursor;
use std::path::Path;

fn quiz(image: &str) -> Value {
    json!({"title": "Pub night", "settings": {"speedBonus": true, "chat": false, "maxPlayers": 50},
      "rounds": [
        {"id": "r1", "name": "General", "type": "standard", "questions": [
          {"id": "q1", "kind": "text", "prompt": "Capital of France?", "answer": "Paris", "accept": ["Paree"], "points": 1, "timeLimitSec": 30},
          {"id": "q2", "kind": "choice", "prompt": "Largest planet?", "choices": ["Mars", "Jupiter"], "answer": 1, "points": 2},
          {"id": "q3", "kind": "number", "prompt": "Moon landing?", "answer": 1969, "tolerance": 1, "points": 1}]},
        {"id": "r2", "name": "Pictures", "type": "picture", "questions": [
          {"id": "q4", "kind": "text", "prompt": "What is this?", "imageUrl": image, "answer": "A gradient", "marking": "peer", "points": 1, "explanation": "Made in a test."}]}]})
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, (x ^ y) as u8]));
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg)
        .unwrap();
    out
}

fn images_stored(db: &Path) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row("SELECT count(*) FROM images", [], |r| r.get(0))
        .unwrap()
}

#[actix_rt::test]
async fn a_library_is_reached_by_its_key_alone() {
    let srv = TestServer::start().await;
    let (a, b) = (new_key(&srv).await, new_key(&srv).await);
    assert_ne!(a, b);
    let q = quiz("/media/eiffel.svg");
    let e = save_quiz(&srv, &a, &q).await;
    let id = e["id"].as_str().unwrap().to_string();
    assert_eq!(
        (
            e["name"].as_str(),
            e["rounds"].as_u64(),
            e["questions"].as_u64()
        ),
        (Some("Pub night"), Some(2), Some(4))
    );
    let path = format!("/api/library/quizzes/{id}");
    let (s, got) = json_call(&srv, "GET", &path, Some(&a), None).await;
    assert_eq!(s, 200);
    assert_eq!(got["quiz"], q, "stored as sent");

    // An invalid quiz is refused with the field, exactly as a session would,
    // and changes nothing.
    let mut bad = q.clone();
    bad["rounds"][0]["questions"][1]["answer"] = json!(7);
    let (s, v) = json_call(&srv, "PUT", &path, Some(&a), Some(bad.clone())).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("INVALID_QUIZ"))
    );
    assert_eq!(v["error"]["field"], "rounds[0].questions[1].answer");
    let (s, v) = json_call(&srv, "POST", "/api/quizzes/validate", None, Some(bad)).await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("rounds[0].questions[1].answer"))
    );
    let (s, v) = json_call(&srv, "POST", "/api/quizzes/validate", None, Some(q.clone())).await;
    assert_eq!((s, v["valid"].as_bool()), (200, Some(true)));
    assert_eq!(
        json_call(&srv, "GET", &path, Some(&a), None).await.1["quiz"],
        q
    );

    let mut changed = q.clone();
    changed["rounds"][0]["questions"][0]["prompt"] = json!("Capital of Italy?");
    changed["rounds"][0]["questions"][0]["answer"] = json!("Rome");
    let (s, _) = json_call(&srv, "PUT", &path, Some(&a), Some(changed.clone())).await;
    assert_eq!(s, 200);
    let (s, r) = json_call(
        &srv,
        "PATCH",
        &path,
        Some(&a),
        Some(json!({"name": "Quiz two"})),
    )
    .await;
    assert_eq!((s, r["name"].as_str()), (200, Some("Quiz two")));
    let (s, v) = json_call(&srv, "PATCH", &path, Some(&a), Some(json!({"name": "  "}))).await;
    assert_eq!((s, v["error"]["field"].as_str()), (400, Some("name")));
    let (s, c) = json_call(&srv, "POST", &format!("{path}/copy"), Some(&a), None).await;
    assert_eq!((s, c["name"].as_str()), (201, Some("Quiz two (copy)")));
    let (_, copy) = json_call(
        &srv,
        "GET",
        &format!("/api/library/quizzes/{}", c["id"].as_str().unwrap()),
        Some(&a),
        None,
    )
    .await;
    assert_eq!(copy["quiz"]["rounds"], changed["rounds"]);
    let (_, list) = json_call(&srv, "GET", "/api/library/quizzes", Some(&a), None).await;
    let names: Vec<&str> = list["quizzes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Quiz two (copy)", "Quiz two"], "newest first");

    // Another key sees nothing and can touch nothing; no key is 401.
    let (_, other) = json_call(&srv, "GET", "/api/library/quizzes", Some(&b), None).await;
    assert_eq!(other["quizzes"], json!([]));
    for (m, body) in [("GET", None), ("PUT", Some(q.clone())), ("DELETE", None)] {
        let (s, v) = json_call(&srv, m, &path, Some(&b), body).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (404, Some("QUIZ_NOT_FOUND")),
            "{m}"
        );
    }
    let (s, _, _) = call(&srv, "GET", &format!("{path}/package"), Some(&b), None, &[]).await;
    assert_eq!(s, 404);
    let (s, v) = json_call(&srv, "GET", "/api/library/quizzes", None, None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("UNAUTHORIZED"))
    );
    let (s, _) = json_call(&srv, "GET", "/api/library/quizzes", Some("short"), None).await;
    assert_eq!(s, 401);

    let (s, _) = json_call(&srv, "DELETE", &path, Some(&a), None).await;
    assert_eq!(s, 204);
    assert_eq!(json_call(&srv, "GET", &path, Some(&a), None).await.0, 404);

    // A saved quiz starts a session in one request.
    let (s, v) = srv
        .post("/api/sessions", None, json!({"quiz": copy["quiz"]}))
        .await;
    assert_eq!(s, 201, "{v}");
    let (_, info) = srv
        .get(
            &format!("/api/sessions/{}", v["code"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(info["title"], "Quiz two (copy)");
}

#[actix_rt::test]
async fn bad_uploads_get_a_clear_error_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let d2 = db.clone();
    let srv = TestServer::with(move |c| c.db = d2).await;
    let key = new_key(&srv).await;

    // A text file renamed .png.
    let (s, v) = upload(&srv, &key, "image/png", b"name,score\nAda,3\n".repeat(40)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("BAD_REQUEST")),
        "{v}"
    );
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not a PNG, JPEG, WebP or GIF"));

    // A real 6 MiB picture (noise does not compress).
    let big = png(1450, 1450, true);
    assert!(big.len() > 6 << 20, "{}", big.len());
    let (s, v) = upload(&srv, &key, "image/png", big).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE")),
        "{v}"
    );
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at most 5242880 bytes"));

    // An SVG with a script.
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(document.cookie)</script></svg>"#;
    let (s, v) = upload(&srv, &key, "image/svg+xml", svg.to_vec()).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("SVG images are not accepted"));

    // A JPEG cut short.
    let j = jpeg(300, 200);
    let (s, v) = upload(&srv, &key, "image/jpeg", j[..j.len() * 3 / 5].to_vec()).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("JPEG image is truncated or damaged"));

    // Without a library key, nothing is even read.
    let (s, _, _) = call(
        &srv,
        "POST",
        "/api/images",
        None,
        Some(("image/jpeg", j.clone())),
        &[],
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(images_stored(&db), 0);

    // The whole JPEG is fine.
    let (s, v) = upload(&srv, &key, "image/jpeg", j).await;
    assert_eq!(
        (s, v["type"].as_str(), v["width"].as_u64()),
        (201, Some("image/jpeg"), Some(300))
    );
    assert_eq!(images_stored(&db), 1);
}

#[actix_rt::test]
async fn pictures_are_stored_once_and_served_immutable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let d2 = db.clone();
    let srv = TestServer::with(move |c| c.db = d2).await;
    let (k1, k2) = (new_key(&srv).await, new_key(&srv).await);
    let pic = png(120, 80, false);
    let (s, a) = upload(&srv, &k1, "image/png", pic.clone()).await;
    assert_eq!((s, a["new"].as_bool()), (201, Some(true)), "{a}");
    let (_, b) = upload(&srv, &k2, "application/octet-stream", pic.clone()).await;
    assert_eq!(
        (b["url"].clone(), b["new"].as_bool()),
        (a["url"].clone(), Some(false))
    );
    assert_eq!(images_stored(&db), 1);
    let url = a["url"].as_str().unwrap();
    assert!(url.starts_with("/media/") && url.ends_with(".png"));

    let (s, h, body) = call(&srv, "GET", url, None, None, &[]).await;
    assert_eq!(s, 200);
    assert_eq!(body, pic, "small pictures are kept byte for byte");
    assert_eq!(h.get("content-type").unwrap(), "image/png");
    assert!(h
        .get("cache-control")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("immutable"));
    let etag = h.get("etag").unwrap().to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", a["hash"].as_str().unwrap()));
    let (s, _, body) = call(&srv, "GET", url, None, None, &[("If-None-Match", &etag)]).await;
    assert_eq!((s, body.len()), (304, 0));
    let missing = format!("/media/{}.png", "0".repeat(64));
    assert_eq!(call(&srv, "GET", &missing, None, None, &[]).await.0, 404);
    // The built-in pictures are still there.
    assert_eq!(
        call(&srv, "GET", "/media/eiffel.svg", None, None, &[])
            .await
            .0,
        200
    );

    // A large photo is resized for phones.
    let (s, v) = upload(&srv, &k1, "image/jpeg", jpeg(3000, 2000)).await;
    assert_eq!(
        (s, v["width"].as_u64(), v["height"].as_u64()),
        (201, Some(1600), Some(1067)),
        "{v}"
    );
}

#[actix_rt::test]
async fn a_package_moves_a_quiz_and_its_pictures_between_servers() {
    let a = TestServer::start().await;
    let key = new_key(&a).await;
    let pic = png(200, 150, false);
    let (_, up) = upload(&a, &key, "image/png", pic.clone()).await;
    let url = up["url"].as_str().unwrap();
    let q = quiz(url);
    let e = save_quiz(&a, &key, &q).await;
    let (s, h, zip) = export(&a, &key, e["id"].as_str().unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(h.get("content-type").unwrap(), "application/zip");
    assert!(h
        .get("content-disposition")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("Pub-night.quizcast.zip"));
    assert!(zip.starts_with(b"PK\x03\x04"));

    let b = TestServer::start().await;
    let key_b = new_key(&b).await;
    let (s, _, body) = call(
        &b,
        "POST",
        "/api/library/import",
        Some(&key_b),
        Some(("application/zip", zip.clone())),
        &[],
    )
    .await;
    let imported: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(s, 201, "{imported}");
    let (_, got) = json_call(
        &b,
        "GET",
        &format!("/api/library/quizzes/{}", imported["id"].as_str().unwrap()),
        Some(&key_b),
        None,
    )
    .await;
    assert_eq!(got["quiz"], q, "identical quiz, same picture URL");
    let (s, _, served) = call(&b, "GET", url, None, None, &[]).await;
    assert_eq!((s, served == pic), (200, true), "identical picture");

    // A package whose picture is not a picture imports nothing.
    let mut broken = q.clone();
    broken["rounds"][1]["questions"][0]["imageUrl"] = json!("images/x.png");
    let bad = package(&broken, &[("images/x.png", b"<svg onload=alert(1)>")]);
    let (s, v) = import(&b, &key_b, bad).await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (400, Some("rounds[1].questions[0].imageUrl")),
        "{v}"
    );
    let (_, list) = json_call(&b, "GET", "/api/library/quizzes", Some(&key_b), None).await;
    assert_eq!(list["quizzes"].as_array().unwrap().len(), 1);

    // A bare quiz JSON file imports too.
    let plain = quiz("/media/eiffel.svg").to_string().into_bytes();
    let (s, _, _) = call(
        &b,
        "POST",
        "/api/library/import",
        Some(&key_b),
        Some(("application/json", plain)),
        &[],
    )
    .await;
    assert_eq!(s, 201);
}

#[actix_rt::test]
async fn uploads_are_limited_per_address() {
    let srv = TestServer::with(|c| {
        c.upload_rate = 0.01;
        c.upload_burst = 1.0;
    })
    .await;
    let key = new_key(&srv).await;
    let (s, _) = upload(&srv, &key, "image/png", png(10, 10, false)).await;
    assert_eq!(s, 201);
    let (s, h, body) = call(
        &srv,
        "POST",
        "/api/images",
        Some(&key),
        Some(("image/png", png(10, 10, false))),
        &[],
    )
    .await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (429, Some("RATE_LIMITED"))
    );
    assert!(h.get("retry-after").is_some());
}

#[actix_rt::test]
async fn saved_quizzes_and_pictures_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut srv = TestServer::on_db(&db, |_| {}).await;
    let key = new_key(&srv).await;
    let (_, up) = upload(&srv, &key, "image/png", png(30, 20, false)).await;
    let q = quiz(up["url"].as_str().unwrap());
    let e = save_quiz(&srv, &key, &q).await;
    srv.shutdown().await;
    let srv = TestServer::on_db(&db, |_| {}).await;
    let (_, got) = json_call(
        &srv,
        "GET",
        &format!("/api/library/quizzes/{}", e["id"].as_str().unwrap()),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(got["quiz"], q);
    let (s, _, _) = call(&srv, "GET", up["url"].as_str().unwrap(), None, None, &[]).await;
    assert_eq!(s, 200);
}
