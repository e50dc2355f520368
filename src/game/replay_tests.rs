//! Property: for random valid (and invalid) command sequences, the state
//! rebuilt from the recorded facts alone (after a round trip through their
//! serialized form) equals the live state, replay produces the same events,
//! and a snapshot round trip changes nothing.

use super::events::{ChatFrom, CloseReason, EndReason};
use super::quiz::{self, Quiz};
use super::state::{GameState, Role, Settings};
use super::teams::TeamMode;
use super::{Command, Fact, GameEvent};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

fn quiz() -> Quiz {
    quiz::parse(serde_json::from_str(include_str!("../../examples/friday-quiz.json")).unwrap())
        .unwrap()
}

/// The quiz, played in team mode `mode` (its settings say so).
fn quiz_in(mode: TeamMode) -> Quiz {
    let mut q = quiz();
    if let Some(s) = q.settings.as_mut() {
        s.teams = mode;
    }
    q
}

fn question_ids(q: &Quiz) -> Vec<String> {
    q.rounds
        .iter()
        .flat_map(|r| r.questions.iter().map(|q| q.id.clone()))
        .collect()
}

fn random_answer(rng: &mut StdRng) -> Value {
    match rng.gen_range(0..5) {
        0 => json!(rng.gen_range(0..4)),
        1 => json!(rng.gen_range(1960..1980)),
        2 => json!(["Paris", "paris ", "Eiffel Tower", "Nope"][rng.gen_range(0..4)]),
        3 => json!(rng.gen_range(0.0..3.0)),
        _ => json!(null),
    }
}

/// One random command against the current state.
fn random_command(g: &GameState, rng: &mut StdRng, qids: &[String], now: u64) -> Command {
    let players: Vec<String> = g.players().map(|p| p.id.clone()).collect();
    let some_player = |rng: &mut StdRng| -> String {
        if players.is_empty() || rng.gen_bool(0.05) {
            "nobody".into()
        } else {
            players[rng.gen_range(0..players.len())].clone()
        }
    };
    let some_q = |rng: &mut StdRng| qids[rng.gen_range(0..qids.len())].clone();
    match rng.gen_range(0..100) {
        0..=14 => Command::AddPlayer {
            player_id: format!("p{}", rng.gen::<u32>()),
            name: format!("Name{}", rng.gen_range(0..40)),
            // A few devices, so device bans come into play.
            device_id: rng
                .gen_bool(0.7)
                .then(|| format!("device-{:04}", rng.gen_range(0..12))),
            // Team mode: pick a team by name (new names create teams).
            team: rng
                .gen_bool(0.6)
                .then(|| format!("Team {}", rng.gen_range(0..5))),
        },
        15..=17 => Command::Leave {
            player_id: some_player(rng),
        },
        18..=19 => Command::RemovePlayer {
            player_id: some_player(rng),
        },
        20 => Command::ResetPlayers,
        21..=27 => Command::OpenQuestion {
            question_id: rng.gen_bool(0.5).then(|| some_q(rng)),
            time_limit_sec: [None, Some(0), Some(20)][rng.gen_range(0..3)],
            now_ms: now,
        },
        28..=31 => Command::CloseQuestion {
            reason: CloseReason::Mc,
            opening: None,
        },
        32..=35 => Command::Reveal,
        36..=38 => Command::StartMarking {
            round_id: rng.gen_bool(0.7).then(|| "r2".to_string()),
            seed: rng.gen(),
        },
        39..=40 => Command::EndMarking,
        41..=65 => Command::SubmitAnswer {
            player_id: some_player(rng),
            question_id: if rng.gen_bool(0.8) {
                current_or_random(g, rng, qids)
            } else {
                some_q(rng)
            },
            answer: random_answer(rng),
            now_ms: now,
        },
        66..=78 => {
            let a = g.assignments().last().cloned();
            match a {
                Some(a) if rng.gen_bool(0.9) => Command::SubmitMark {
                    player_id: a.marker_id.clone(),
                    assignment_id: a.assignment_id.clone(),
                    question_id: a
                        .question_ids
                        .first()
                        .cloned()
                        .unwrap_or_else(|| some_q(rng)),
                    score: rng.gen_range(0..5) as f64 / 2.0,
                },
                _ => Command::SubmitMark {
                    player_id: some_player(rng),
                    assignment_id: "r2-1".into(),
                    question_id: some_q(rng),
                    score: 1.0,
                },
            }
        }
        79..=84 => Command::OverrideScore {
            player_id: some_player(rng),
            question_id: some_q(rng),
            score: rng.gen_range(0..5) as f64 / 2.0,
        },
        85..=89 => Command::Chat {
            from: ChatFrom {
                player_id: None,
                name: "Quiz master".into(),
                role: Role::Mc,
            },
            text: format!("hello {}", rng.gen::<u8>()),
        },
        90..=91 => Command::SetChat {
            enabled: rng.gen_bool(0.8),
        },
        92..=94 => Command::StartRound {
            round_id: ["r1", "r2", "zz"][rng.gen_range(0..3)].into(),
        },
        95 => Command::LoadQuiz {
            quiz: quiz_in(g.settings.teams),
        },
        97 => match g.bans().first() {
            Some(b) if rng.gen_bool(0.8) => Command::Unban {
                ban_id: b.ban_id.clone(),
            },
            _ => Command::Unban {
                ban_id: "nobody".into(),
            },
        },
        98 => Command::ShowLeaderboard {
            shown: rng.gen_bool(0.7),
        },
        99 => random_team_command(g, rng, &players, qids),
        96 if rng.gen_bool(0.2) => Command::End {
            reason: EndReason::Mc,
        },
        _ => Command::CloseQuestion {
            reason: CloseReason::Timer,
            opening: Some(rng.gen_range(0..5)),
        },
    }
}

/// A random team command (the MC's).
fn random_team_command(
    g: &GameState,
    rng: &mut StdRng,
    players: &[String],
    qids: &[String],
) -> Command {
    let teams: Vec<String> = g.teams().iter().map(|t| t.id.clone()).collect();
    let some_team = |rng: &mut StdRng| -> String {
        if teams.is_empty() || rng.gen_bool(0.05) {
            "t999".into()
        } else {
            teams[rng.gen_range(0..teams.len())].clone()
        }
    };
    match rng.gen_range(0..7) {
        0 => Command::CreateTeam {
            name: format!("Team {}", rng.gen_range(0..8)),
        },
        1 => Command::RenameTeam {
            team_id: some_team(rng),
            name: format!("Renamed {}", rng.gen_range(0..8)),
        },
        2 => Command::RemoveTeam {
            team_id: some_team(rng),
        },
        3 => Command::MergeTeams {
            from: some_team(rng),
            into: some_team(rng),
        },
        4 if !players.is_empty() => Command::SetTeam {
            player_id: players[rng.gen_range(0..players.len())].clone(),
            team_id: rng.gen_bool(0.8).then(|| some_team(rng)),
        },
        5 => Command::OverrideTeamScore {
            team_id: some_team(rng),
            question_id: qids[rng.gen_range(0..qids.len())].clone(),
            score: rng.gen_range(0..3) as f64 / 2.0,
        },
        _ => Command::SetTeamMode {
            mode: [
                TeamMode::Sum,
                TeamMode::Mean,
                TeamMode::Sheet,
                TeamMode::Off,
            ][rng.gen_range(0..4)],
            max_teams: rng.gen_bool(0.3).then(|| rng.gen_range(1..6)),
            max_team_size: rng.gen_bool(0.3).then(|| rng.gen_range(1..4)),
        },
    }
}

fn current_or_random(g: &GameState, rng: &mut StdRng, qids: &[String]) -> String {
    g.current_question()
        .map(|q| q.id.clone())
        .unwrap_or_else(|| qids[rng.gen_range(0..qids.len())].clone())
}

#[test]
fn the_state_rebuilt_from_the_facts_equals_the_live_state() {
    let qids = question_ids(&quiz());
    let mut total_accepted = 0;
    // How often the newer facts were exercised (they must be, to count).
    let mut newer = std::collections::HashMap::<&str, usize>::new();
    for seed in 0..300u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        // Settles and cross-checks draw from their own generator, so the
        // command sequences stay those of the seed.
        let mut side = StdRng::seed_from_u64(seed ^ 0x005e_771e);
        // Most runs play in teams, in each mode.
        let settings = Settings {
            speed_bonus: seed % 2 == 0,
            teams: [
                TeamMode::Off,
                TeamMode::Sum,
                TeamMode::Mean,
                TeamMode::Sheet,
            ][seed as usize % 4],
            ..Settings::default()
        };
        let mut live = GameState::new("ABCDE", "Night", settings.clone());
        let mut log: Vec<String> = Vec::new();
        let mut live_events: Vec<GameEvent> = Vec::new();
        let first = live
            .decide(Command::LoadQuiz {
                quiz: quiz_in(settings.teams),
            })
            .unwrap();
        for f in &first.facts {
            live_events.extend(live.evolve(f));
        }
        log.push(serde_json::to_string(&first.facts).unwrap());
        let mut now = 1_000_000u64;
        let mut accepted = 0;
        for _ in 0..250 {
            now += rng.gen_range(0..3000);
            let cmd = random_command(&live, &mut rng, &qids, now);
            let before = live.to_value();
            match live.decide(cmd) {
                Ok(d) => {
                    accepted += 1;
                    for f in &d.facts {
                        live_events.extend(live.evolve(f));
                    }
                    if !d.facts.is_empty() {
                        log.push(serde_json::to_string(&d.facts).unwrap());
                    }
                }
                // A refusal changes nothing.
                Err(_) => assert_eq!(live.to_value(), before, "seed {seed}"),
            }
            // Settling only looks below the first position changed since the
            // last settle: it tells exactly what a full recount and re-sort
            // of every player would tell.
            if side.gen_bool(0.3) {
                let mut full = live.clone();
                full.ranks = None;
                let mut fast = live.clone();
                assert_eq!(fast.settle_ranks(None), full.rescore(), "seed {seed}");
                assert_eq!(fast.told, full.told, "seed {seed}");
            }
            // The session's leaderboard tick: ranks moved by departures and
            // overrides are told, and then everyone knows their own. A large
            // session tells a few per tick (`limit`), in rounds that other
            // facts interleave with.
            if side.gen_bool(0.15) {
                let limit = side.gen_bool(0.6).then(|| side.gen_range(1..4));
                let settle = vec![Fact::RanksSettled { limit }];
                // A node that loaded a snapshot just now tells the same.
                let mut loaded: GameState =
                    serde_json::from_slice(&serde_json::to_vec(&live).unwrap()).unwrap();
                let told = live.evolve(&settle[0]);
                assert_eq!(loaded.evolve(&settle[0]), told, "seed {seed}");
                assert_eq!(loaded.to_value(), live.to_value(), "seed {seed}");
                let mut moved = 0;
                for e in &told {
                    if let GameEvent::ScoreUpdated {
                        player,
                        score,
                        rank,
                        ..
                    } = e
                    {
                        moved += 1;
                        let now = live.entry_of(player).map(|e| (e.score, e.rank));
                        assert_eq!(now, Some((*score, *rank)), "seed {seed}");
                    }
                }
                assert!(moved <= limit.unwrap_or(usize::MAX), "seed {seed}");
                live_events.extend(told);
                log.push(serde_json::to_string(&settle).unwrap());
                if limit.is_none() {
                    for e in live.leaderboard() {
                        let told = live.told.get(&e.player_id).copied();
                        assert_eq!(told, Some((e.score, e.rank)), "seed {seed}");
                    }
                }
            }
        }
        total_accepted += accepted;
        for kind in [
            "playerBanned",
            "playerUnbanned",
            "leaderboardShown",
            "deviceId",
            "teamCreated",
            "teamMemberSet",
            "sheetAnswered",
            "teamRemoved",
            "teamAwards",
        ] {
            *newer.entry(kind).or_default() += log.iter().filter(|r| r.contains(kind)).count();
        }

        let mut rebuilt = GameState::new("ABCDE", "Night", settings);
        let mut replayed_events = Vec::new();
        for record in &log {
            let facts: Vec<Fact> = serde_json::from_str(record).unwrap();
            for f in &facts {
                replayed_events.extend(rebuilt.evolve(f));
            }
        }
        assert_eq!(rebuilt.to_value(), live.to_value(), "seed {seed}");
        assert_eq!(replayed_events, live_events, "seed {seed}");
        assert_eq!(rebuilt.leaderboard(), live.leaderboard(), "seed {seed}");

        let mut snap: GameState =
            serde_json::from_slice(&serde_json::to_vec(&live).unwrap()).unwrap();
        assert_eq!(snap.to_value(), live.to_value(), "seed {seed}");
        assert_eq!(snap.leaderboard(), live.leaderboard(), "seed {seed}");
    }
    // Most sequences play a long way (a few end early with `End`).
    assert!(total_accepted > 300 * 60, "only {total_accepted} accepted");
    assert!(newer.values().all(|n| *n > 20), "{newer:?}");
}
