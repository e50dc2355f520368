//! Team mode unit tests: scoring by sum, mean and sheet, the shared sheet's
//! revisions, limits, the MC's team changes, and peer marking that pairs
//! teams rather than players.

use super::events::GameEvent;
use super::quiz::{self, Quiz};
use super::state::{GameState, Settings};
use super::teams::TeamMode;
use super::{Command, GameError, Outcome};
use serde_json::{json, Value};

const T0: u64 = 1_000_000;

fn quiz() -> Quiz {
    quiz::parse(json!({"title":"Team night","rounds":[
        {"id":"r1","name":"General","questions":[
          {"id":"q1","kind":"text","prompt":"Capital of France?","answer":"Paris","points":2},
          {"id":"q2","kind":"choice","prompt":"Largest planet?","choices":["Mars","Jupiter"],"answer":1,"points":1}]},
        {"id":"r2","name":"Pictures","questions":[
          {"id":"q3","kind":"text","prompt":"Name this","answer":"Eiffel Tower","marking":"peer","points":2}]}]}))
    .unwrap()
}

fn game(mode: TeamMode) -> GameState {
    let settings = Settings {
        teams: mode,
        max_teams: 3,
        max_team_size: 2,
        ..Settings::default()
    };
    let mut g = GameState::new("ABCDE", "T", settings);
    g.apply(Command::LoadQuiz { quiz: quiz() }).unwrap();
    g
}

fn join(g: &mut GameState, id: &str, team: &str) -> Result<Vec<GameEvent>, GameError> {
    g.apply(Command::AddPlayer {
        player_id: id.into(),
        name: id.to_uppercase(),
        device_id: None,
        team: Some(team.into()),
    })
    .map(|(_, e)| e)
}

fn answer(g: &mut GameState, p: &str, q: &str, a: Value) -> Result<Outcome, GameError> {
    g.apply(Command::SubmitAnswer {
        player_id: p.into(),
        question_id: q.into(),
        answer: a,
        now_ms: T0 + 10,
    })
    .map(|(o, _)| o)
}

fn open(g: &mut GameState, q: &str) {
    g.apply(Command::OpenQuestion {
        question_id: Some(q.into()),
        time_limit_sec: None,
        now_ms: T0,
    })
    .unwrap();
}

fn reveal(g: &mut GameState) -> Vec<GameEvent> {
    g.apply(Command::Reveal).unwrap().1
}

fn team_scores(g: &GameState) -> Vec<(String, f64, usize)> {
    g.team_standings()
        .into_iter()
        .map(|e| (e.name, e.score, e.rank))
        .collect()
}

/// Two teams: Owls (a, b) and Foxes (c).
fn two_teams(mode: TeamMode) -> GameState {
    let mut g = game(mode);
    join(&mut g, "a", "Owls").unwrap();
    join(&mut g, "b", "owls").unwrap();
    join(&mut g, "c", "Foxes").unwrap();
    g
}

#[test]
fn joining_creates_or_picks_a_team_by_name_or_id() {
    let g = two_teams(TeamMode::Sum);
    let names: Vec<(&str, usize)> = g
        .teams()
        .iter()
        .map(|t| (t.name.as_str(), t.members.len()))
        .collect();
    assert_eq!(names, vec![("Owls", 2), ("Foxes", 1)]);
    assert_eq!(g.team_of("b").unwrap().id, "t1");
    let mut g = g;
    // By id too; a team's size is limited, and so is the number of teams.
    assert_eq!(join(&mut g, "d", "t2").map(drop), Ok(()));
    assert!(matches!(
        join(&mut g, "e", "t2"),
        Err(GameError::TeamFull(..))
    ));
    assert_eq!(join(&mut g, "e", "Bats").map(drop), Ok(()));
    assert_eq!(join(&mut g, "f", "Cats"), Err(GameError::TeamsFull(3)));
    // A refused join adds nobody.
    assert!(g.player("f").is_none());
}

#[test]
fn a_team_is_refused_when_team_mode_is_off() {
    let mut g = game(TeamMode::Off);
    assert_eq!(join(&mut g, "a", "Owls"), Err(GameError::TeamsOff));
    // Without a team, joining is as it always was.
    g.apply(Command::AddPlayer {
        player_id: "a".into(),
        name: "A".into(),
        device_id: None,
        team: None,
    })
    .unwrap();
    assert!(g.team_standings().is_empty());
}

#[test]
fn sum_mode_adds_members_scores() {
    let mut g = two_teams(TeamMode::Sum);
    open(&mut g, "q1");
    answer(&mut g, "a", "q1", json!("Paris")).unwrap();
    answer(&mut g, "b", "q1", json!("paris")).unwrap();
    answer(&mut g, "c", "q1", json!("Paris")).unwrap();
    let ev = reveal(&mut g);
    assert_eq!(
        team_scores(&g),
        vec![("Owls".into(), 4.0, 1), ("Foxes".into(), 2.0, 2)]
    );
    // Individual standings stay: each player has their own 2 points.
    assert!(g.leaderboard().iter().all(|e| e.score == 2.0));
    // Each member hears the team's score.
    let told: Vec<&str> = ev
        .iter()
        .filter_map(|e| match e {
            GameEvent::TeamScoreUpdated { to, .. } => Some(to.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(told, vec!["a", "b", "c"]);
}

#[test]
fn mean_mode_averages_over_members() {
    let mut g = two_teams(TeamMode::Mean);
    open(&mut g, "q1");
    answer(&mut g, "a", "q1", json!("Paris")).unwrap();
    answer(&mut g, "b", "q1", json!("Rome")).unwrap();
    answer(&mut g, "c", "q1", json!("Paris")).unwrap();
    reveal(&mut g);
    // Owls: (2 + 0) / 2 = 1; Foxes: 2 / 1 = 2.
    assert_eq!(
        team_scores(&g),
        vec![("Foxes".into(), 2.0, 1), ("Owls".into(), 1.0, 2)]
    );
}

#[test]
fn sheet_mode_one_answer_per_team_last_write_wins() {
    let mut g = two_teams(TeamMode::Sheet);
    open(&mut g, "q1");
    let rev = |o: Outcome| match o {
        Outcome::Answer { revision, .. } => revision,
        _ => 0,
    };
    assert_eq!(rev(answer(&mut g, "a", "q1", json!("Rome")).unwrap()), 1);
    // Another member changes the team's answer: revision 2, seen by both.
    let (o, ev) = g
        .apply(Command::SubmitAnswer {
            player_id: "b".into(),
            question_id: "q1".into(),
            answer: json!("Paris"),
            now_ms: T0 + 20,
        })
        .unwrap();
    assert_eq!(rev(o), 2);
    let seen: Vec<(&str, u32)> = ev
        .iter()
        .filter_map(|e| match e {
            GameEvent::TeamSheetUpdated { to, revision, .. } => Some((to.as_str(), *revision)),
            _ => None,
        })
        .collect();
    assert_eq!(seen, vec![("a", 2), ("b", 2)]);
    // The same answer again changes nothing.
    assert_eq!(rev(answer(&mut g, "a", "q1", json!("Paris")).unwrap()), 2);
    assert_eq!(g.sheet_of("t1", "q1").unwrap().by, "b");
    answer(&mut g, "c", "q1", json!("Lyon")).unwrap();
    reveal(&mut g);
    assert_eq!(
        team_scores(&g),
        vec![("Owls".into(), 2.0, 1), ("Foxes".into(), 0.0, 2)]
    );
    // No individual answers or points: the sheet is the team's.
    assert!(g.answer_of("a", "q1").is_none());
    assert_eq!(g.player("a").unwrap().score, 0.0);
    // The MC overrides per team.
    g.apply(Command::OverrideTeamScore {
        team_id: "t2".into(),
        question_id: "q1".into(),
        score: 1.5,
    })
    .unwrap();
    assert_eq!(team_scores(&g)[1], ("Foxes".into(), 1.5, 2));
}

#[test]
fn peer_marking_pairs_teams_with_a_sheet() {
    let mut g = two_teams(TeamMode::Sheet);
    join(&mut g, "d", "Bats").unwrap();
    open(&mut g, "q3");
    answer(&mut g, "a", "q3", json!("Eiffel")).unwrap();
    answer(&mut g, "c", "q3", json!("Big Ben")).unwrap();
    answer(&mut g, "d", "q3", json!("Tower")).unwrap();
    g.apply(Command::CloseQuestion {
        reason: super::events::CloseReason::Mc,
        opening: None,
    })
    .unwrap();
    for seed in 0..20 {
        let mut h = g.clone();
        let (_, ev) = h
            .apply(Command::StartMarking {
                round_id: Some("r2".into()),
                seed,
            })
            .unwrap();
        let a: Vec<_> = h.assignments().cloned().collect();
        assert_eq!(a.len(), 3, "one assignment per team");
        for x in &a {
            let pair = x.teams.as_ref().unwrap();
            assert_ne!(pair.marker_team, pair.markee_team, "no team marks itself");
            assert!(x.is_sheet());
        }
        // Every member of a marking team receives its assignment.
        let owls = a.iter().find(|x| x.marker_id == "t1").unwrap();
        let to: Vec<&str> = ev
            .iter()
            .filter_map(|e| match e {
                GameEvent::AssignmentCreated {
                    marker,
                    assignment_id,
                    ..
                } if *assignment_id == owls.assignment_id => Some(marker.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(to, vec!["a", "b"]);
        // Any member marks; a player outside the team cannot.
        let mark = |h: &mut GameState, p: &str| {
            h.apply(Command::SubmitMark {
                player_id: p.into(),
                assignment_id: owls.assignment_id.clone(),
                question_id: "q3".into(),
                score: 1.0,
            })
        };
        assert_eq!(mark(&mut h, "c"), Err(GameError::AssignmentNotFound));
        mark(&mut h, "b").unwrap();
        h.apply(Command::EndMarking).unwrap();
        let marked = &owls.markee_id;
        assert_eq!(h.team_award_of(marked, "q3").unwrap().score, 1.0);
    }
}

#[test]
fn peer_marking_pairs_teams_when_members_answer() {
    let mut g = two_teams(TeamMode::Sum);
    open(&mut g, "q3");
    for p in ["a", "b", "c"] {
        answer(&mut g, p, "q3", json!("Eiffel")).unwrap();
    }
    g.apply(Command::CloseQuestion {
        reason: super::events::CloseReason::Mc,
        opening: None,
    })
    .unwrap();
    g.apply(Command::StartMarking {
        round_id: Some("r2".into()),
        seed: 7,
    })
    .unwrap();
    let a: Vec<_> = g.assignments().cloned().collect();
    // Foxes mark each Owl; Owls mark the Fox.
    let mut got: Vec<(String, String)> = a
        .iter()
        .map(|x| (x.marker_id.clone(), x.markee_id.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("t1".into(), "c".into()),
            ("t2".into(), "a".into()),
            ("t2".into(), "b".into())
        ]
    );
    for x in &a {
        let marker = if x.marker_id == "t1" { "b" } else { "c" };
        g.apply(Command::SubmitMark {
            player_id: marker.into(),
            assignment_id: x.assignment_id.clone(),
            question_id: "q3".into(),
            score: 2.0,
        })
        .unwrap();
    }
    g.apply(Command::EndMarking).unwrap();
    assert_eq!(
        team_scores(&g),
        vec![("Owls".into(), 4.0, 1), ("Foxes".into(), 2.0, 2)]
    );
}

#[test]
fn the_mc_moves_renames_merges_and_removes_teams() {
    let mut g = two_teams(TeamMode::Sum);
    let mc = |g: &mut GameState, c: Command| g.apply(c).map(|(o, _)| o);
    assert_eq!(
        mc(
            &mut g,
            Command::CreateTeam {
                name: "OWLS".into()
            }
        ),
        Err(GameError::TeamNameTaken)
    );
    let Outcome::TeamCreated { team_id } = mc(
        &mut g,
        Command::CreateTeam {
            name: "Bats".into(),
        },
    )
    .unwrap() else {
        panic!("no team id");
    };
    assert_eq!(team_id, "t3");
    mc(
        &mut g,
        Command::SetTeam {
            player_id: "a".into(),
            team_id: Some("t3".into()),
        },
    )
    .unwrap();
    assert_eq!(g.team_of("a").unwrap().name, "Bats");
    mc(
        &mut g,
        Command::RenameTeam {
            team_id: "t3".into(),
            name: "Night Bats".into(),
        },
    )
    .unwrap();
    // Merging Foxes (1) into Owls (1): fits the size limit of 2.
    mc(
        &mut g,
        Command::MergeTeams {
            from: "t2".into(),
            into: "t1".into(),
        },
    )
    .unwrap();
    assert_eq!(g.team_of("c").unwrap().id, "t1");
    assert_eq!(
        mc(
            &mut g,
            Command::MergeTeams {
                from: "t3".into(),
                into: "t1".into()
            }
        ),
        Err(GameError::TeamFull("Owls".into(), 2))
    );
    mc(
        &mut g,
        Command::RemoveTeam {
            team_id: "t3".into(),
        },
    )
    .unwrap();
    assert!(g.team_of("a").is_none());
    assert!(g.player("a").is_some(), "members stay in the session");
    let names: Vec<&str> = g.teams().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["Owls"]);
    // Ids are never reused.
    let Ok(Outcome::TeamCreated { team_id }) = mc(
        &mut g,
        Command::CreateTeam {
            name: "Cats".into(),
        },
    ) else {
        panic!("no team id");
    };
    assert_eq!(team_id, "t4");
}

#[test]
fn team_mode_is_chosen_before_the_first_question_only() {
    let mut g = game(TeamMode::Off);
    let set = |g: &mut GameState, mode| {
        g.apply(Command::SetTeamMode {
            mode,
            max_teams: None,
            max_team_size: Some(0),
        })
        .map(drop)
    };
    assert!(matches!(
        set(&mut g, TeamMode::Sheet),
        Err(GameError::BadRequest(_))
    ));
    g.apply(Command::SetTeamMode {
        mode: TeamMode::Sheet,
        max_teams: Some(10),
        max_team_size: Some(4),
    })
    .unwrap();
    assert_eq!(g.settings.teams, TeamMode::Sheet);
    open(&mut g, "q1");
    assert_eq!(set(&mut g, TeamMode::Sum), Err(GameError::TeamModeLocked));
}

#[test]
fn leaving_takes_a_player_out_of_their_team() {
    let mut g = two_teams(TeamMode::Sum);
    let (_, ev) = g
        .apply(Command::Leave {
            player_id: "b".into(),
        })
        .unwrap();
    assert_eq!(g.teams()[0].members, vec!["a".to_string()]);
    assert!(ev.iter().any(
        |e| matches!(e, GameEvent::TeamUpdated { to: None, members, .. } if members.len() == 1)
    ));
}
