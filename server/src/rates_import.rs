//! The rate deck's CSV format and its two ways in: `phonebooth rates import
//! <file.csv>` (see `main.rs`), and the sample deck (`server/rates/sample_deck.csv`,
//! built into the binary) that `Application::build` loads into an empty deck
//! so a fresh install can quote and call at once.
//!
//! An import is all or nothing: the whole file is parsed and validated first,
//! every problem is reported with its line number, and only a file with none
//! replaces the deck, in one transaction. The rules for a rate are
//! `app::domain::rating::Rate::new`; the table is `app::server::db::rates`.
//!
//! The format, one rate per line after this exact header:
//!
//! ```text
//! prefix,country_code,country_name,description,price_per_minute_usd,connection_fee_usd,initial_increment,subsequent_increment,blocked,blocked_reason
//! 447,GB,United Kingdom,United Kingdom mobile,0.035,0,60,60,0,
//! 4490,GB,United Kingdom,Premium-rate (090),0,0,60,60,1,Premium-rate service (090)
//! ```
//!
//! Prices are dollars with up to six decimals, read exactly (never as floats);
//! increments are seconds (1–3600); `blocked` is 0/1 or true/false and a
//! blocked prefix needs a reason. Fields may be quoted (RFC 4180) to hold commas.

use anyhow::Context;
use app::domain::rating::{parse_rate_dollars, Rate, RateParts};
use app::server::clock;
use app::server::db::{rates, Db};
use std::collections::HashMap;
use std::fmt;

/// The first line of every deck file, exactly.
pub const HEADER: &str = "prefix,country_code,country_name,description,price_per_minute_usd,\
connection_fee_usd,initial_increment,subsequent_increment,blocked,blocked_reason";

/// The deck a fresh install starts with.
pub const SAMPLE_DECK: &str = include_str!("../rates/sample_deck.csv");

const FIELDS: usize = 10;

/// Something wrong on one line of a deck file (1-based; the header is line 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}", describe(.0))]
    Invalid(Vec<Problem>),
    #[error("writing the rate deck")]
    Db(#[from] sqlx::Error),
}

fn describe(problems: &[Problem]) -> String {
    let mut text = format!(
        "the rate deck has {} problem{}; nothing was changed",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for problem in problems {
        text.push_str("\n  ");
        text.push_str(&problem.to_string());
    }
    text
}

/// Parses and validates a whole deck file: every rate, or every problem.
pub fn parse_deck(text: &str) -> Result<Vec<Rate>, Vec<Problem>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().map(|(i, line)| (i + 1, line));
    let mut problems = Vec::new();
    match lines.next() {
        Some((_, header)) if header.trim_end() == HEADER => {}
        Some((line, _)) => problems.push(Problem {
            line,
            message: format!("the header must be exactly: {HEADER}"),
        }),
        None => {
            return Err(vec![Problem {
                line: 1,
                message: "the file is empty".into(),
            }])
        }
    }
    let mut rates = Vec::new();
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    for (line, raw) in lines {
        if raw.trim().is_empty() {
            continue;
        }
        let mut report = |message: String| problems.push(Problem { line, message });
        let fields = match split_fields(raw) {
            Ok(fields) if fields.len() == FIELDS => fields,
            Ok(fields) => {
                report(format!("expected {FIELDS} fields, found {}", fields.len()));
                continue;
            }
            Err(message) => {
                report(message.into());
                continue;
            }
        };
        match parse_row(&fields) {
            Ok(rate) => {
                if let Some(earlier) = first_seen.get(rate.prefix()) {
                    report(format!(
                        "prefix {} is already on line {earlier}",
                        rate.prefix()
                    ));
                } else {
                    first_seen.insert(rate.prefix().to_owned(), line);
                    rates.push(rate);
                }
            }
            Err(messages) => messages.into_iter().for_each(&mut report),
        }
    }
    if problems.is_empty() && rates.is_empty() {
        problems.push(Problem {
            line: 2,
            message: "the file has no rates (an empty deck would refuse every call)".into(),
        });
    }
    if problems.is_empty() {
        Ok(rates)
    } else {
        Err(problems)
    }
}

/// One data row: every problem in it, or the rate.
fn parse_row(fields: &[String]) -> Result<Rate, Vec<String>> {
    let mut problems = Vec::new();
    let field = |i: usize| fields[i].trim();
    // A field that does not parse gets a harmless stand-in, so `Rate::new`
    // still reports the row's other problems without inventing new ones.
    let mut price = |i: usize, name: &str| {
        parse_rate_dollars(field(i)).unwrap_or_else(|message| {
            problems.push(format!("{name}: {message} (got {:?})", field(i)));
            app::domain::Money::ZERO
        })
    };
    let price_per_minute = price(4, "price_per_minute_usd");
    let connection_fee = price(5, "connection_fee_usd");
    let mut increment = |i: usize, name: &str| {
        field(i).parse::<u32>().unwrap_or_else(|_| {
            problems.push(format!(
                "{name} must be a whole number of seconds (got {:?})",
                field(i)
            ));
            60
        })
    };
    let initial_increment = increment(6, "initial_increment");
    let subsequent_increment = increment(7, "subsequent_increment");
    let reason = field(9);
    let blocked = match field(8).to_ascii_lowercase().as_str() {
        "0" | "false" => false,
        "1" | "true" => true,
        other => {
            problems.push(format!(
                "blocked must be 0, 1, true or false (got {other:?})"
            ));
            !reason.is_empty()
        }
    };
    let parts = RateParts {
        prefix: field(0).to_owned(),
        country_code: field(1).to_owned(),
        country_name: field(2).to_owned(),
        description: field(3).to_owned(),
        price_per_minute,
        connection_fee,
        initial_increment,
        subsequent_increment,
        blocked,
        blocked_reason: (!reason.is_empty()).then(|| reason.to_owned()),
    };
    match Rate::new(parts) {
        Ok(rate) if problems.is_empty() => Ok(rate),
        Ok(_) => Err(problems),
        Err(invalid) => {
            problems.extend(invalid.0.iter().map(ToString::to_string));
            Err(problems)
        }
    }
}

/// Splits one CSV line into fields. Quoted fields may hold commas and `""`
/// for a quote; a field cannot span lines (no deck needs one).
fn split_fields(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    let mut quoted = false;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            (false, '"') => return Err("a quote inside an unquoted field (quote the whole field)"),
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            (false, c) => {
                field.push(c);
                at_field_start = false;
            }
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => {
                quoted = false;
                if !matches!(chars.peek(), None | Some(',')) {
                    return Err("text after a closing quote (put it inside the quotes)");
                }
            }
            (true, c) => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed on this line");
    }
    fields.push(field);
    Ok(fields)
}

/// Validates `text` as a whole deck and, when it has no problem, replaces the
/// deck with it in one transaction. Returns how many rates were loaded.
#[tracing::instrument(skip_all)]
pub async fn import(db: &Db, text: &str) -> Result<usize, ImportError> {
    let rates = parse_deck(text).map_err(ImportError::Invalid)?;
    let mut tx = db.begin_write().await?;
    rates::replace_deck(&mut tx, &rates, clock::now()).await?;
    tx.commit().await?;
    tracing::info!(rates = rates.len(), "rate deck replaced");
    Ok(rates.len())
}

/// Loads the built-in sample deck when the deck is empty (a fresh database).
/// Safe with several instances starting at once: the check and the load run
/// under the deck's write lock, so the second instance finds the first's rows.
pub async fn load_sample_if_empty(db: &Db) -> anyhow::Result<()> {
    // Most starts find a deck: answer those without taking the write lock.
    if rates::count(&db.pool).await.context("counting rates")? > 0 {
        return Ok(());
    }
    let sample = parse_deck(SAMPLE_DECK)
        .map_err(|problems| anyhow::anyhow!("the built-in sample deck: {}", describe(&problems)))?;
    let mut tx = db.begin_write().await.context("loading the sample deck")?;
    rates::lock_deck(&mut tx)
        .await
        .context("loading the sample deck")?;
    if rates::count(&mut *tx).await.context("counting rates")? > 0 {
        return Ok(());
    }
    rates::replace_deck(&mut tx, &sample, clock::now())
        .await
        .context("loading the sample deck")?;
    tx.commit().await.context("loading the sample deck")?;
    tracing::info!(
        rates = sample.len(),
        "the rate deck was empty: loaded the sample deck"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::domain::Money;
    use std::collections::HashSet;

    fn deck(rows: &[&str]) -> String {
        let mut text = format!("{HEADER}\n");
        for row in rows {
            text.push_str(row);
            text.push('\n');
        }
        text
    }

    fn problems(text: &str) -> Vec<String> {
        parse_deck(text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn the_sample_deck_is_valid_and_covers_at_least_fifty_countries() {
        let rates = parse_deck(SAMPLE_DECK).expect("the sample deck parses");
        let countries: HashSet<&str> = rates
            .iter()
            .filter(|r| !r.is_blocked())
            .map(Rate::country_code)
            .collect();
        assert!(countries.len() >= 50, "{} countries", countries.len());
        let increments: HashSet<(u32, u32)> = rates
            .iter()
            .map(|r| (r.initial_increment(), r.subsequent_increment()))
            .collect();
        assert!(increments.contains(&(60, 60)));
        assert!(increments.contains(&(30, 6)));
        assert!(increments.contains(&(1, 1)));
        assert!(rates.iter().any(|r| r.connection_fee() > Money::ZERO));
        for premium in ["1900", "4490", "4491", "881", "882", "883"] {
            let rate = rates.iter().find(|r| r.prefix() == premium).unwrap();
            assert!(rate.is_blocked(), "{premium}");
        }
    }

    #[test]
    fn a_good_row_becomes_an_exact_rate() {
        let rates = parse_deck(&deck(&[
            "447,gb,United Kingdom,UK mobile,0.035,0.000125,30,6,0,",
            "4490,GB,United Kingdom,\"Premium, 090\",0,0,60,60,true,\"Premium \"\"090\"\" range\"",
        ]))
        .unwrap();
        assert_eq!(rates.len(), 2);
        assert_eq!(rates[0].prefix(), "447");
        assert_eq!(rates[0].country_code(), "GB");
        assert_eq!(rates[0].price_per_minute(), Money::from_micros(35_000));
        assert_eq!(rates[0].connection_fee(), Money::from_micros(125));
        assert_eq!(
            (
                rates[0].initial_increment(),
                rates[0].subsequent_increment()
            ),
            (30, 6)
        );
        assert!(!rates[0].is_blocked());
        assert_eq!(rates[1].description(), "Premium, 090");
        assert_eq!(rates[1].blocked_reason(), Some("Premium \"090\" range"));
    }

    #[test]
    fn windows_line_endings_a_byte_order_mark_and_blank_lines_are_fine() {
        let text = format!(
            "\u{feff}{HEADER}\r\n1,US,United States,US,0.013,0,60,60,0,\r\n\r\n44,GB,United Kingdom,UK,0.02,0,60,60,FALSE,\r\n"
        );
        assert_eq!(parse_deck(&text).unwrap().len(), 2);
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line_number() {
        let text = deck(&[
            "44,GB,United Kingdom,UK,0.02,0,60,60,0,",
            "44a,GB,United Kingdom,UK,0.02,0,60,60,0,",
            "45,DNK,Denmark,DK,0.02,0,1,1,0,",
            "46,SE,Sweden,SE,0.0200001,0,1,1,0,",
            "47,NO,Norway,NO,-0.02,abc,1,1,0,",
            "48,PL,Poland,PL,0.025,0,0,3601,0,",
            "49,DE,Germany,DE,0.02,0,60,60,yes,",
            "4490,GB,United Kingdom,Premium,0,0,60,60,1,",
            "33,FR,France,FR,0.02,0,60,60,0,premium",
            "44,GB,United Kingdom,again,0.02,0,60,60,0,",
            "39,IT,Italy,too few fields",
            "\"39,IT,Italy,IT,0.02,0,60,60,0,",
            "1234567890123456,US,United States,too long,0.01,0,60,60,0,",
        ]);
        assert_eq!(
            problems(&text),
            vec![
                "line 3: prefix must be 1 to 15 digits",
                "line 4: country_code must be two letters (ISO 3166-1, like GB)",
                "line 5: price_per_minute_usd: a price has at most six decimals (whole micro-dollars) (got \"0.0200001\")",
                "line 6: price_per_minute_usd: a price is written in dollars, like 0.013 (no sign, no exponent) (got \"-0.02\")",
                "line 6: connection_fee_usd: a price is written in dollars, like 0.013 (no sign, no exponent) (got \"abc\")",
                "line 7: initial_increment must be a whole number of seconds from 1 to 3600",
                "line 7: subsequent_increment must be a whole number of seconds from 1 to 3600",
                "line 8: blocked must be 0, 1, true or false (got \"yes\")",
                "line 9: a blocked prefix needs a blocked_reason",
                "line 10: blocked_reason is set but the prefix is not blocked (set blocked to 1 or clear the reason)",
                "line 11: prefix 44 is already on line 2",
                "line 12: expected 10 fields, found 4",
                "line 13: a quoted field is not closed on this line",
                "line 14: prefix must be 1 to 15 digits",
            ]
        );
    }

    #[test]
    fn the_header_must_be_exact_and_the_deck_not_empty() {
        let wrong = HEADER.replace("price_per_minute_usd", "price");
        assert_eq!(
            problems(&format!(
                "{wrong}\n1,US,United States,US,0.013,0,60,60,0,\n"
            )),
            vec![format!("line 1: the header must be exactly: {HEADER}")]
        );
        assert_eq!(problems(""), vec!["line 1: the file is empty"]);
        assert_eq!(
            problems(&deck(&[])),
            vec!["line 2: the file has no rates (an empty deck would refuse every call)"]
        );
    }

    #[test]
    fn fields_split_like_rfc_4180_on_one_line() {
        assert_eq!(
            split_fields("a,\"b,c\",\"d\"\"e\",").unwrap(),
            vec!["a", "b,c", "d\"e", ""]
        );
        assert!(split_fields("a,b\"c").is_err());
        assert!(split_fields("\"a\"b,c").is_err());
        assert!(split_fields("\"a,b").is_err());
    }
}
