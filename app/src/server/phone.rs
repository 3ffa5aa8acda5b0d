//! Dialed numbers: whatever a person typed, in international or national
//! format, parsed with libphonenumber's metadata (the `phonenumber` crate)
//! into E.164. National formats are read in the chosen country.

use phonenumber::country::Id;
use phonenumber::Mode;
use std::str::FromStr;

/// Longest input we try to parse: a formatted international number with
/// spaces, dashes and parentheses fits easily.
const MAX_INPUT_CHARS: usize = 32;

/// A number we can dial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialedNumber {
    /// "+442071838750"
    pub e164: String,
    /// "+44 20 7183 8750", for people.
    pub international: String,
}

impl DialedNumber {
    /// E.164 digits without '+', as the rate deck's prefixes are written.
    pub fn digits(&self) -> &str {
        self.e164.trim_start_matches('+')
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("Type a phone number.")]
    Empty,
    #[error("A phone number has digits, spaces, dashes, dots, parentheses and a leading +; nothing else.")]
    BadCharacters,
    #[error("That is too long for a phone number.")]
    TooLong,
    #[error("Choose a country for numbers without a + and country code.")]
    UnknownCountry,
    #[error("That is not a valid phone number for {0}. Check the digits, or type it with + and the country code.")]
    NotValidIn(String),
    #[error("That is not a valid phone number. Check the digits and the country code.")]
    NotValid,
}

/// Parses `raw` as typed. `country` (ISO 3166-1 alpha-2) is used only when
/// the number has no international prefix.
pub fn parse_dialed(raw: &str, country: &str) -> Result<DialedNumber, NumberError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(NumberError::Empty);
    }
    if raw.chars().count() > MAX_INPUT_CHARS {
        return Err(NumberError::TooLong);
    }
    let allowed = |(i, c): (usize, char)| {
        c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')') || (c == '+' && i == 0)
    };
    if !raw.char_indices().all(allowed) {
        return Err(NumberError::BadCharacters);
    }
    let international = raw.starts_with('+') || raw.starts_with("00");
    let region = Id::from_str(&country.to_ascii_uppercase()).ok();
    if !international && region.is_none() {
        return Err(NumberError::UnknownCountry);
    }
    let invalid = || {
        if international {
            NumberError::NotValid
        } else {
            NumberError::NotValidIn(country.to_ascii_uppercase())
        }
    };
    // "00 44 …" is how most of the world dials out; "+44 (0)20 …" writes the
    // national trunk prefix inside an international number. Both mean "+44 20 …".
    let raw = match raw.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => raw.to_owned(),
    };
    let raw = if international {
        raw.replace("(0)", "")
    } else {
        raw
    };
    let number = phonenumber::parse(region, &raw).map_err(|_| invalid())?;
    if !phonenumber::is_valid(&number) {
        return Err(invalid());
    }
    Ok(DialedNumber {
        e164: number.format().mode(Mode::E164).to_string(),
        international: number.format().mode(Mode::International).to_string(),
    })
}

/// A country national numbers can be read in (the deck also has pseudo-country
/// codes, such as ZZ for international networks, that have no national format).
pub fn is_region(code: &str) -> bool {
    Id::from_str(code).is_ok()
}

/// Loads libphonenumber's metadata and compiles its common patterns, which
/// the crate otherwise does lazily inside the first parse.
pub fn warm_up() {
    let _ = parse_dialed("+44 20 7183 8750", "US");
}

/// The country calling code of a region ("CA" → 1, "GB" → 44): what the
/// country picker shows. The deck's own prefixes can be longer (NANP area
/// codes such as 1204), so they are not used for it.
pub fn calling_code(region: &str) -> Option<u16> {
    phonenumber::metadata::DATABASE
        .by_id(region)
        .map(|metadata| metadata.country_code())
}

/// An E.164 number formatted for people ("+44 20 7183 8750"); the input
/// itself when the metadata does not know it (numbers are stored as dialed).
pub fn format_international(e164: &str) -> String {
    phonenumber::parse(None, e164)
        .map(|n| n.format().mode(Mode::International).to_string())
        .unwrap_or_else(|_| e164.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calling_codes_come_from_the_numbering_plan() {
        assert_eq!(calling_code("CA"), Some(1));
        assert_eq!(calling_code("BS"), Some(1));
        assert_eq!(calling_code("GB"), Some(44));
        assert_eq!(calling_code("ZZ"), None);
    }

    #[test]
    fn international_formats_normalize_to_e164() {
        for raw in [
            "+44 20 7183 8750",
            "+44 (0)20 7183 8750",
            "0044 20 7183 8750",
            " +442071838750 ",
        ] {
            let n = parse_dialed(raw, "US").unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(n.e164, "+442071838750", "{raw}");
            assert_eq!(n.digits(), "442071838750");
        }
    }

    #[test]
    fn national_formats_use_the_chosen_country() {
        assert_eq!(
            parse_dialed("020 7183 8750", "GB").unwrap().e164,
            "+442071838750"
        );
        assert_eq!(
            parse_dialed("(202) 555-0143", "US").unwrap().e164,
            "+12025550143"
        );
        assert_eq!(
            parse_dialed("01 42 68 53 00", "fr").unwrap().e164,
            "+33142685300"
        );
        assert_eq!(
            parse_dialed("+1 202 555 0143", "US").unwrap().international,
            "+1 202-555-0143"
        );
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        assert_eq!(parse_dialed("  ", "US"), Err(NumberError::Empty));
        assert_eq!(
            parse_dialed("call mom", "US"),
            Err(NumberError::BadCharacters)
        );
        assert_eq!(parse_dialed("12+34", "US"), Err(NumberError::BadCharacters));
        assert_eq!(
            parse_dialed(&"1".repeat(40), "US"),
            Err(NumberError::TooLong)
        );
        assert_eq!(
            parse_dialed("020 7183 8750", "ZZ"),
            Err(NumberError::UnknownCountry)
        );
        assert_eq!(
            parse_dialed("123", "US"),
            Err(NumberError::NotValidIn("US".into()))
        );
        assert_eq!(parse_dialed("+999 1234", "US"), Err(NumberError::NotValid));
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format_international("+442071838750"), "+44 20 7183 8750");
        assert_eq!(format_international("not a number"), "not a number");
    }
}
