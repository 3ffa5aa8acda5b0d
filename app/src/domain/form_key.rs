/// The idempotency key a form carries, so that submitting it twice (a double
/// click, a retried POST, a reload) does one thing: one checkout for a buy or
/// card form, one call for a dial form. The server hands the keys out, but
/// they come back from the browser, so they are parsed like any input: 1 to
/// 80 ASCII letters, digits, `-` or `_`, surrounding spaces ignored. Callers
/// scope a key to its organization and member before using it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FormKey(String);

impl FormKey {
    pub const MAX_LEN: usize = 80;
    /// Shown when a key is refused: only an old or tampered page sends one.
    pub const REFUSED: &'static str = "this form is out of date; reload the page and try again";

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let key = raw.trim();
        let valid = (1..=Self::MAX_LEN).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(key.to_owned()))
        } else {
            Err(Self::REFUSED)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::FormKey;

    #[test]
    fn keys_the_server_hands_out_are_accepted() {
        for key in ["buy_01HZX3K9Q2", "dial_7f3a-2", "kill9", " padded_key "] {
            assert_eq!(FormKey::parse(key).unwrap().as_str(), key.trim());
        }
    }

    #[test]
    fn empty_long_or_foreign_keys_are_refused() {
        let too_long = "k".repeat(FormKey::MAX_LEN + 1);
        for key in [
            "", "   ", &too_long, "a b", "key;drop", "ключ", "a/b", "a.b",
        ] {
            assert_eq!(FormKey::parse(key), Err(FormKey::REFUSED), "{key:?}");
        }
        assert!(FormKey::parse(&"k".repeat(FormKey::MAX_LEN)).is_ok());
    }
}
