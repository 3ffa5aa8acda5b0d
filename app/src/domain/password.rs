use serde::{Deserialize, Serialize};
use std::fmt;

const COMMON: &str = include_str!("common_passwords.txt");

/// A new password that meets the rules: 8 to 128 characters and not one of the
/// most common passwords. Never printed: `Debug` hides it.
#[derive(Clone, Serialize, Deserialize)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err("a password has at least 8 characters");
        }
        if chars > Self::MAX_CHARS {
            return Err("a password has at most 128 characters");
        }
        if is_common(raw) {
            return Err("that password is one of the most common ones; choose another");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn is_common(raw: &str) -> bool {
    let candidate = raw.to_lowercase();
    COMMON
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .any(|common| common == candidate)
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::Password;

    #[test]
    fn a_password_needs_eight_to_128_characters() {
        assert!(Password::parse("short12").is_err());
        assert!(Password::parse("long-enough").is_ok());
        assert!(Password::parse(&"x".repeat(128)).is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(
            Password::parse("ééééééé").is_err(),
            "7 characters, 14 bytes"
        );
        assert!(Password::parse("éééééééé").is_ok());
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        assert!(Password::parse("password123").is_err());
        assert!(Password::parse("PassWord123").is_err());
        assert!(Password::parse("12345678").is_err());
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let password = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }
}
