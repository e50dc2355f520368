//! Pictures on answer choices (issue 12) over real sockets: a quiz package
//! carries them to a fresh server byte for byte, the picture sweep keeps a
//! picture that only a choice uses, and phones get them beside unchanged
//! plain-text `choices`.

mod common;

use common::library::{call, export, import, json_call, new_key, package, png, save_quiz, upload};
use common::TestServer;
use serde_json::{json, Value};
use std::io::{Cursor, Read};
use std::time::{Duration, Instant};

/// A quiz whose choice question has a picture on two of its three choices;
/// `shared` is also the picture round's question picture.
fn quiz(shared: &str, only_choice: &str) -> Value {
    json!({"title": "Choice pictures",
      "rounds": [
        {"id": "r1", "name": "Flags", "questions": [
          {"id": "q1", "kind": "choice", "prompt": "Which flag is France's?",
           "choices": ["Blue white red", "Red white", "Green"],
           "choiceImages": [only_choice, null, shared], "answer": 0, "points": 1}]},
        {"id": "r2", "name": "Pictures", "type": "picture", "questions": [
          {"id": "q2", "kind": "text", "prompt": "What is this?", "imageUrl": shared, "answer": "A gradient"}]}]})
}

async fn get_bytes(srv: &TestServer, path: &str) -> (u16, Vec<u8>) {
    let (s, _, b) = call(srv, "GET", path, None, None, &[]).await;
    (s, b)
}

#[actix_rt::test]
async fn choice_pictures_travel_in_the_package_byte_for_byte() {
    let a = TestServer::start().await;
    let key = new_key(&a).await;
    let (_, shared) = upload(&a, &key, "image/png", png(40, 30, false)).await;
    let (_, only) = upload(&a, &key, "image/png", png(64, 64, true)).await;
    let (shared, only) = (
        shared["url"].as_str().unwrap().to_string(),
        only["url"].as_str().unwrap().to_string(),
    );
    assert_ne!(shared, only);
    let q = quiz(&shared, &only);
    let e = save_quiz(&a, &key, &q).await;
    let (s, _, zip) = export(&a, &key, e["id"].as_str().unwrap()).await;
    assert_eq!(s, 200);

    // In the package: each picture once, the choices naming their files.
    let mut z = zip::ZipArchive::new(Cursor::new(zip.clone())).unwrap();
    let mut names: Vec<String> = z.file_names().map(String::from).collect();
    names.sort();
    let file = |url: &str| format!("images/{}", url.strip_prefix("/media/").unwrap());
    let mut want = vec!["quiz.json".to_string(), file(&shared), file(&only)];
    want.sort();
    assert_eq!(names, want);
    let mut packed = String::new();
    z.by_name("quiz.json")
        .unwrap()
        .read_to_string(&mut packed)
        .unwrap();
    let packed: Value = serde_json::from_str(&packed).unwrap();
    assert_eq!(
        packed["rounds"][0]["questions"][0]["choiceImages"],
        json!([file(&only), null, file(&shared)])
    );
    assert_eq!(
        packed["rounds"][0]["questions"][0]["choices"],
        q["rounds"][0]["questions"][0]["choices"]
    );

    // Imported on a fresh server: the same quiz, the same bytes.
    let b = TestServer::start().await;
    assert_eq!(get_bytes(&b, &only).await.0, 404, "not there before");
    let key_b = new_key(&b).await;
    let (s, _, body) = call(
        &b,
        "POST",
        "/api/library/import",
        Some(&key_b),
        Some(("application/zip", zip)),
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
    assert_eq!(got["quiz"], q, "identical quiz, same picture URLs");
    for url in [&shared, &only] {
        let (sa, from_a) = get_bytes(&a, url).await;
        let (sb, from_b) = get_bytes(&b, url).await;
        assert_eq!((sa, sb), (200, 200), "{url}");
        assert!(from_a == from_b, "{url}: byte-identical");
    }

    // A package whose choice picture is not a picture imports nothing, and
    // the error names the choice.
    let mut broken = q.clone();
    broken["rounds"][0]["questions"][0]["choiceImages"][0] = json!("images/x.png");
    let bad = package(&broken, &[("images/x.png", b"GIF89a but truncated")]);
    let (s, v) = import(&b, &key_b, bad).await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (400, Some("rounds[0].questions[0].choiceImages[0]")),
        "{v}"
    );
    let (_, list) = json_call(&b, "GET", "/api/library/quizzes", Some(&key_b), None).await;
    assert_eq!(list["quizzes"].as_array().unwrap().len(), 1);
}

#[actix_rt::test]
async fn invalid_choice_pictures_are_refused_with_their_field() {
    let srv = TestServer::start().await;
    let key = new_key(&srv).await;
    let mut q = quiz("/media/eiffel.svg", "/media/bridge.svg");
    q["rounds"][0]["questions"][0]["choiceImages"] = json!(["/a.png", "javascript:x", null]);
    let (s, v) = json_call(
        &srv,
        "POST",
        "/api/library/quizzes",
        Some(&key),
        Some(q.clone()),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str(), v["error"]["field"].as_str()),
        (
            422,
            Some("INVALID_QUIZ"),
            Some("rounds[0].questions[0].choiceImages[1]")
        ),
        "{v}"
    );
    q["rounds"][0]["questions"][0]["choiceImages"] = json!(["/a.png"]);
    let (s, v) = srv.post("/api/sessions", None, json!({"quiz": q})).await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("rounds[0].questions[0].choiceImages")),
        "{v}"
    );
}

#[actix_rt::test]
async fn the_sweep_keeps_a_picture_only_a_choice_uses() {
    // A sweep every second; a fresh upload is safe for 3 s, time to save it.
    let srv = TestServer::with(|c| {
        c.image_gc_secs = 1;
        c.image_gc_grace_secs = 3;
    })
    .await;
    let key = new_key(&srv).await;
    let (_, choice) = upload(&srv, &key, "image/png", png(20, 20, true)).await;
    let (_, orphan) = upload(&srv, &key, "image/png", png(21, 20, true)).await;
    let (choice, orphan) = (
        choice["url"].as_str().unwrap().to_string(),
        orphan["url"].as_str().unwrap().to_string(),
    );
    // The picture is on a choice only: the question and the picture round
    // use built-in pictures that are not swept.
    let q = quiz("/media/eiffel.svg", &choice);
    let e = save_quiz(&srv, &key, &q).await;
    // Wait for a sweep to have taken the orphan (its grace is over).
    let start = Instant::now();
    while get_bytes(&srv, &orphan).await.0 != 404 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the orphan is never swept"
        );
        actix_rt::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        get_bytes(&srv, &choice).await.0,
        200,
        "kept: a choice uses it"
    );
    // Once the quiz is gone the choice's picture goes too.
    let (s, _) = json_call(
        &srv,
        "DELETE",
        &format!("/api/library/quizzes/{}", e["id"].as_str().unwrap()),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(s, 204);
    while get_bytes(&srv, &choice).await.0 != 404 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never swept after the quiz was deleted"
        );
        actix_rt::time::sleep(Duration::from_millis(250)).await;
    }
}
