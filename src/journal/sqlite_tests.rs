//! Unit tests of the SQLite log: the fence and reading back.
use super::*;
use std::sync::mpsc;

fn header(code: &str) -> SessionHeader {
    SessionHeader {
        code: code.into(),
        nonce: "n".into(),
        title: "T".into(),
        settings: Default::default(),
        created_ms: 1,
    }
}

/// An append of one record with one fact, reporting to `tx`.
fn append(code: &str, epoch: u64, expected: u64, tx: &mpsc::Sender<Committed>) -> Append {
    let tx = tx.clone();
    let facts = vec![Fact::ChatSent {
        from: crate::game::events::ChatFrom {
            player_id: None,
            name: "MC".into(),
            role: crate::game::Role::Mc,
        },
        text: format!("record {}", expected + 1),
    }];
    Append {
        code: code.into(),
        epoch,
        expected,
        generation: 0,
        records: vec![Record {
            pos: expected + 1,
            facts,
            events: vec![LoggedEvent {
                seq: expected + 1,
                audience: Audience::All,
                frame: format!("{{\"seq\":{}}}", expected + 1).into(),
            }],
        }],
        notify: Box::new(move |c| {
            let _ = tx.send(c);
        }),
    }
}

#[test]
fn appends_are_fenced_by_position_and_epoch_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let (log, stored) = SqliteLog::open(
        &db,
        false,
        &LoadOptions::default(),
        Arc::new(Metrics::default()),
    )
    .unwrap();
    assert!(stored.is_empty());
    let (done, created) = tokio::sync::oneshot::channel();
    log.create(header("ABCDE"), done).unwrap();
    log.flush();
    assert_eq!(created.blocking_recv().unwrap(), Ok(()));
    // Chat needs chat on: a settings fact first, as record 1.
    let (tx, rx) = mpsc::channel();
    let mut first = append("ABCDE", 1, 0, &tx);
    first.records[0].facts = vec![Fact::SettingsChanged {
        settings: crate::game::state::Settings {
            chat: true,
            ..Default::default()
        },
    }];
    log.append(first).unwrap();
    log.append(append("ABCDE", 1, 1, &tx)).unwrap();
    // A second writer at a stale position, and one of another epoch.
    log.append(append("ABCDE", 1, 1, &tx)).unwrap();
    log.append(append("ABCDE", 2, 2, &tx)).unwrap();
    log.flush();
    let got: Vec<_> = rx.try_iter().map(|c| (c.upto, c.result)).collect();
    assert_eq!(got[0], (1, Ok(())));
    assert_eq!(got[1], (2, Ok(())));
    assert_eq!(
        got[2],
        (
            2,
            Err(AppendFailure::Fenced {
                stored: 2,
                epoch: 1
            })
        )
    );
    assert_eq!(
        got[3],
        (
            3,
            Err(AppendFailure::Fenced {
                stored: 2,
                epoch: 1
            })
        )
    );
    assert_eq!(log.live_sessions().unwrap(), vec!["ABCDE".to_string()]);
    let s = log.read_session("ABCDE", 10).unwrap().unwrap();
    assert_eq!((s.pos, s.seq, s.events.len()), (2, 2, 2));
    assert!(s.state.settings.chat);
    let after = log.events_after("ABCDE", 1, 10).unwrap();
    assert_eq!(after.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2]);
    // A snapshot replaces the facts it covers; the state reads the same.
    log.snapshot(
        "ABCDE",
        2,
        2,
        s.state.format_version(),
        serde_json::to_vec(&s.state).unwrap(),
    )
    .unwrap();
    log.close();
    let (_, stored) = SqliteLog::open(
        &db,
        false,
        &LoadOptions {
            ring_events: 10,
            ..Default::default()
        },
        Arc::new(Metrics::default()),
    )
    .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].state.to_value(), s.state.to_value());
    assert_eq!((stored[0].pos, stored[0].seq), (2, 2));
}
