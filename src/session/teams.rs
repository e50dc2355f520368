//! Team reads: the team list (anyone) and results by team (MC). Team
//! changes are ordinary commands (`Apply`); only reads need messages.

use super::Session;
use crate::auth::Claims;
use crate::error::ApiError;
use crate::game::team_results::{self, TeamResult};
use crate::game::Role;
use actix::prelude::*;
use serde_json::{json, Value};

/// The session's team mode, limits and teams with their members (anyone:
/// the join page lists the teams to pick from).
#[derive(Message)]
#[rtype(result = "Value")]
pub struct ReadTeams;

/// Results by team (MC only); `None` when team mode is off.
#[derive(Message)]
#[rtype(result = "Result<Option<Vec<TeamResult>>, ApiError>")]
pub struct ReadTeamResults {
    pub claims: Claims,
}

impl Handler<ReadTeams> for Session {
    type Result = MessageResult<ReadTeams>;

    fn handle(&mut self, _: ReadTeams, _: &mut Context<Self>) -> Self::Result {
        let g = &self.durable;
        let standings = g.team_standings();
        let teams: Vec<Value> = g
            .teams()
            .iter()
            .map(|t| {
                let e = standings.iter().find(|e| e.team_id == t.id);
                let members: Vec<Value> = t
                    .members
                    .iter()
                    .filter_map(|m| g.player(m))
                    .map(|p| json!({"playerId": p.id, "name": p.name}))
                    .collect();
                json!({
                    "teamId": t.id, "name": t.name, "memberCount": members.len(),
                    "full": t.members.len() >= g.settings.max_team_size,
                    "score": e.map_or(0.0, |e| e.score), "rank": e.map_or(0, |e| e.rank),
                    "members": members,
                })
            })
            .collect();
        MessageResult(json!({
            "mode": g.team_mode().as_str(),
            "maxTeams": g.settings.max_teams,
            "maxTeamSize": g.settings.max_team_size,
            "teams": teams,
        }))
    }
}

impl Handler<ReadTeamResults> for Session {
    type Result = Result<Option<Vec<TeamResult>>, ApiError>;

    fn handle(&mut self, msg: ReadTeamResults, _: &mut Context<Self>) -> Self::Result {
        if self.caller(Some(&msg.claims))?.0 != Role::Mc {
            return Err(ApiError::forbidden());
        }
        if self.durable.team_mode().is_off() {
            return Ok(None);
        }
        Ok(Some(team_results::teams(&mut self.durable)))
    }
}
