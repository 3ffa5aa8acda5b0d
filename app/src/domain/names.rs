use serde::{Deserialize, Serialize};
use std::fmt;

/// Trims, collapses nothing, and refuses empty, overlong or control-character text.
fn parse_name(raw: &str, what: &'static str, max: usize) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(format!("enter {what}"));
    }
    if name.chars().count() > max {
        return Err(format!("{what} has at most {max} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("{what} cannot contain control characters"));
    }
    Ok(name.to_owned())
}

/// A person's display name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        parse_name(raw, "your name", 100).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An organization's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgName(String);

impl OrgName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        parse_name(raw, "an organization name", 100).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed() {
        assert_eq!(
            PersonName::parse("  Grace Hopper ").unwrap().as_str(),
            "Grace Hopper"
        );
    }

    #[test]
    fn empty_overlong_and_control_character_names_are_refused() {
        assert_eq!(PersonName::parse("   ").unwrap_err(), "enter your name");
        assert!(PersonName::parse(&"x".repeat(101)).is_err());
        assert!(
            PersonName::parse(&"é".repeat(100)).is_ok(),
            "limits count characters, not bytes"
        );
        assert!(OrgName::parse("Acme\u{0}Corp").is_err());
    }
}
