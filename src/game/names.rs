//! Player-name rules: 1-24 visible characters after trimming, no control
//! characters, unique per session ignoring case.

use super::GameError;

/// Longest name, in characters, after trimming.
pub const MAX_NAME_CHARS: usize = 24;

/// Trims and checks a requested name; returns the name as it will be shown.
pub fn validate(raw: &str) -> Result<String, GameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(GameError::BadName("name must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(GameError::BadName("name must be at most 24 characters"));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(GameError::BadName(
            "name must not contain control characters",
        ));
    }
    if !name.chars().any(|c| !c.is_whitespace() && !is_invisible(c)) {
        return Err(GameError::BadName("name must contain visible characters"));
    }
    Ok(name.to_string())
}

/// The key two names collide on.
pub fn key(name: &str) -> String {
    name.trim().to_lowercase()
}

fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_accepts_plain_names() {
        assert_eq!(validate("  Ada  ").unwrap(), "Ada");
    }

    #[test]
    fn rejects_empty_long_control_and_invisible() {
        assert!(validate("   ").is_err());
        assert!(validate(&"x".repeat(25)).is_err());
        assert!(validate(&"é".repeat(24)).is_ok());
        assert!(validate("a\u{7}b").is_err());
        assert!(validate("\u{200B}\u{200B}").is_err());
    }

    #[test]
    fn keys_ignore_case() {
        assert_eq!(key("ADA "), key("ada"));
    }

    #[test]
    fn markup_is_just_text() {
        assert_eq!(
            validate("<img src=x onerror=f()>").unwrap(),
            "<img src=x onerror=f()>"
        );
    }
}
