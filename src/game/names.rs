//! Player-name rules.
//!
//! A name is normalized to Unicode NFKC (so full-width `Ａｎｎ` is `Ann`),
//! trimmed, with runs of whitespace collapsed to one space; it then has 1-24
//! characters, at least one of them visible, and none of:
//! - control characters;
//! - bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E,
//!   U+2066-U+2069), which can reorder what is shown around the name;
//! - invisible characters: the default-ignorable code points (zero-width
//!   spaces and joiners, U+034F, Hangul fillers such as U+3164, tags...),
//!   blank look-alikes (U+2800), line and paragraph separators, and private
//!   use characters. Two exceptions keep emoji working: a variation selector
//!   (U+FE0E, U+FE0F) right after a symbol, and a zero-width joiner between
//!   two emoji.
//!
//! Two names collide when their [`key`]s are equal: the UTS #39 confusable
//! skeleton of the lower-cased name (crate `unicode-security`), so `ANN`,
//! Cyrillic `Аnn`, `Ａｎｎ` and `Ann` with an invisible character are all
//! one name (and so are `Ian` and `lan`).

use super::GameError;
use unicode_normalization::UnicodeNormalization;

/// Longest name, in characters, after normalization.
pub const MAX_NAME_CHARS: usize = 24;

/// Input longer than this (in characters) is refused before normalizing.
const MAX_RAW_CHARS: usize = 256;

fn bad(msg: impl Into<String>) -> GameError {
    GameError::BadName(msg.into())
}

/// Normalizes and checks a requested name; returns the name as it will be
/// shown and stored.
pub fn validate(raw: &str) -> Result<String, GameError> {
    if raw.chars().count() > MAX_RAW_CHARS {
        return Err(bad(format!(
            "name must be at most {MAX_NAME_CHARS} characters"
        )));
    }
    let normalized: String = raw.nfkc().collect();
    let name = normalized.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Err(bad("name must not be empty"));
    }
    let count = name.chars().count();
    if count > MAX_NAME_CHARS {
        return Err(bad(format!(
            "name must be at most {MAX_NAME_CHARS} characters (it has {count} after normalization)"
        )));
    }
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_control() {
            return Err(bad(format!(
                "name must not contain control characters (U+{:04X})",
                c as u32
            )));
        }
        if is_bidi_control(c) {
            return Err(bad(format!(
                "name must not contain bidirectional control characters (U+{:04X})",
                c as u32
            )));
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        if is_invisible(c) && !emoji_glue(c, prev, next) {
            return Err(bad(format!(
                "name must not contain invisible or zero-width characters (U+{:04X})",
                c as u32
            )));
        }
    }
    if !chars.iter().any(|&c| is_visible(c)) {
        return Err(bad("name must contain at least one visible character"));
    }
    Ok(name)
}

/// The key two names collide on: the confusable skeleton of the lower-cased
/// name, lower-cased again (prototypes may be capitals), with `l` folded
/// into `i` (a capital `I` looks like `l`, but lower-casing comes first).
pub fn key(name: &str) -> String {
    let folded: String = name.nfkc().collect::<String>().to_lowercase();
    let trimmed = folded.split_whitespace().collect::<Vec<_>>().join(" ");
    let skeleton: String = unicode_security::skeleton(&trimmed).collect();
    skeleton
        .to_lowercase()
        .chars()
        .map(|c| if c == 'l' { 'i' } else { c })
        .collect()
}

fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Default-ignorable code points (Unicode's DerivedCoreProperties), blank
/// look-alikes, separators and private use.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
            // Blank look-alikes and separators.
            | '\u{2800}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{FFFC}'
            // Private use: no glyph anyone else can see.
            | '\u{E000}'..='\u{F8FF}'
            | '\u{F0000}'..='\u{10FFFF}'
    )
}

/// A character that shows something by itself.
fn is_visible(c: char) -> bool {
    !c.is_whitespace()
        && !c.is_control()
        && !is_invisible(c)
        && !unicode_normalization::char::is_combining_mark(c)
}

/// Roughly: a pictographic symbol (emoji and the older dingbats).
fn is_emoji(c: char) -> bool {
    matches!(c, '\u{2190}'..='\u{2BFF}' | '\u{1F000}'..='\u{1FAFF}')
}

/// The invisible characters emoji are made of: a variation selector after a
/// symbol, a zero-width joiner between two emoji.
fn emoji_glue(c: char, prev: Option<char>, next: Option<char>) -> bool {
    match c {
        '\u{FE0E}' | '\u{FE0F}' => prev.is_some_and(|p| !p.is_alphanumeric() && is_visible(p)),
        '\u{200D}' => {
            // After an emoji, possibly with its variation selector.
            prev.is_some_and(|p| is_emoji(p) || p == '\u{FE0F}') && next.is_some_and(is_emoji)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(raw: &str) -> String {
        match validate(raw) {
            Err(GameError::BadName(m)) => m,
            other => panic!("{raw:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn trims_and_accepts_plain_names() {
        assert_eq!(validate("  Ada  ").unwrap(), "Ada");
        assert_eq!(validate("Ada   Lovelace").unwrap(), "Ada Lovelace");
    }

    #[test]
    fn rejects_empty_long_control_and_invisible() {
        assert!(validate("   ").is_err());
        assert!(validate(&"x".repeat(25)).is_err());
        assert!(validate(&"é".repeat(24)).is_ok());
        assert!(validate("a\u{7}b").is_err());
        assert!(validate("\u{200B}\u{200B}").is_err());
        assert!(validate(&"x".repeat(10_000)).is_err());
    }

    #[test]
    fn normalizes_to_nfkc() {
        assert_eq!(validate("Ａｎｎ").unwrap(), "Ann");
        assert_eq!(validate("e\u{301}").unwrap(), "\u{e9}");
        assert_eq!(validate("ﬁsh").unwrap(), "fish");
        // Long after NFKC: U+FDFA is 18 characters.
        assert!(err(&"\u{FDFA}".repeat(2)).contains("after normalization"));
    }

    #[test]
    fn refuses_invisible_only_and_hidden_characters_saying_why() {
        for raw in [
            "\u{061C}",
            "\u{3164}",
            "\u{2800}",
            "\u{034F}\u{034F}",
            "\u{200B}",
            "\u{FEFF}",
            "\u{115F}",
            "\u{FFA0}",
            "\u{E0041}",
            "\u{0301}",
        ] {
            assert!(validate(raw).is_err(), "{raw:?}");
        }
        assert!(err("Ann\u{200B}").contains("zero-width"));
        assert!(err("Ann\u{200B}").contains("U+200B"));
        assert!(err("\u{202E}nnA").contains("bidirectional"));
        assert!(err("A\u{2066}nn").contains("bidirectional"));
        assert!(err("\u{061C}").contains("bidirectional"));
        assert!(err("\u{3164}").contains("invisible"));
        assert!(err("\u{0301}\u{0301}").contains("visible"));
        assert!(err("Ann\u{E000}").contains("invisible"));
    }

    #[test]
    fn emoji_keep_their_joiners_and_selectors() {
        assert!(validate("Ann \u{2764}\u{FE0F}").is_ok());
        assert!(validate("\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}").is_ok());
        assert!(validate("A\u{200D}nn").is_err());
        assert!(validate("A\u{FE0F}").is_err());
    }

    #[test]
    fn keys_ignore_case_and_look_alikes() {
        assert_eq!(key("ADA "), key("ada"));
        assert_eq!(key("Ann"), key("\u{410}nn")); // Cyrillic A
        assert_eq!(key("Ann"), key("\u{430}nn")); // Cyrillic a
        assert_eq!(key("Ann"), key("Ａｎｎ"));
        assert_eq!(key("paypal"), key("pаypаl"));
        assert_eq!(key("I1l"), key("lll"));
        assert_eq!(key("Ian"), key("lan"));
        assert_eq!(key("Sam"), key("Sarn"));
        assert_ne!(key("Ann"), key("Anne"));
        assert_ne!(key("Bob"), key("Rob"));
    }

    #[test]
    fn markup_is_just_text() {
        assert_eq!(
            validate("<img src=x onerror=f()>").unwrap(),
            "<img src=x onerror=f()>"
        );
    }
}
