//! Signed tokens (HS256 JWT) scoped to one session, one role and one player.

use crate::game::{PlayerId, Role};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// What a token says about its bearer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Session code.
    pub ses: String,
    /// Session nonce: distinguishes a reused code's later session.
    pub sn: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<PlayerId>,
    pub iat: u64,
    pub exp: u64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    #[error("token missing")]
    Missing,
    #[error("token invalid or expired")]
    Invalid,
    #[error("token is for another session")]
    WrongSession,
}

/// Mints and checks tokens with the server's secret.
pub struct Auth {
    enc: EncodingKey,
    dec: DecodingKey,
    validation: Validation,
}

/// Tokens outlive any session that is still running.
const TOKEN_LIFETIME_SECS: u64 = 30 * 24 * 3600;

impl Auth {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims = ["exp".to_string()].into_iter().collect();
        validation.leeway = 0;
        Auth {
            enc: EncodingKey::from_secret(secret),
            dec: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn issue(&self, code: &str, nonce: &str, role: Role, pid: Option<&str>) -> String {
        let now = crate::protocol::now_ms() / 1000;
        let claims = Claims {
            ses: code.to_string(),
            sn: nonce.to_string(),
            role,
            pid: pid.map(str::to_string),
            iat: now,
            exp: now + TOKEN_LIFETIME_SECS,
        };
        // HS256 over plain claims cannot fail.
        encode(&Header::new(Algorithm::HS256), &claims, &self.enc).unwrap_or_default()
    }

    /// Checks the signature and expiry, and that the token is for `code`.
    pub fn verify(&self, token: &str, code: &str) -> Result<Claims, AuthError> {
        let data = decode::<Claims>(token.trim(), &self.dec, &self.validation)
            .map_err(|_| AuthError::Invalid)?;
        if !data.claims.ses.eq_ignore_ascii_case(code) {
            return Err(AuthError::WrongSession);
        }
        if data.claims.role == Role::Player && data.claims.pid.is_none() {
            return Err(AuthError::Invalid);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_stay_in_their_session() {
        let a = Auth::new(b"k1");
        let t = a.issue("ABCDE", "n1", Role::Player, Some("p1"));
        let c = a.verify(&t, "abcde").unwrap();
        assert_eq!(c.role, Role::Player);
        assert_eq!(c.pid.as_deref(), Some("p1"));
        assert_eq!(a.verify(&t, "ZZZZZ").unwrap_err(), AuthError::WrongSession);
    }

    #[test]
    fn another_secret_or_garbage_is_invalid() {
        let t = Auth::new(b"k1").issue("ABCDE", "n", Role::Mc, None);
        assert_eq!(
            Auth::new(b"k2").verify(&t, "ABCDE").unwrap_err(),
            AuthError::Invalid
        );
        assert_eq!(
            Auth::new(b"k1").verify("x.y.z", "ABCDE").unwrap_err(),
            AuthError::Invalid
        );
    }
}
