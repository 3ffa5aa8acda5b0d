//! The filters of a history (the wallet's transactions, the calls): each page
//! has its own plain GET form, built from these shared pieces (the date
//! range, the Filter and Clear actions, the notice for filters the server
//! refused), and writes its filtered views back as query strings
//! (`query_string`) for page links, CSV exports and other links that carry
//! values (Redial). All of it works without JavaScript.

use crate::error::AppError;
use leptos::prelude::*;

/// The date fields of a history's filter form: `from` and `to`, whole UTC days
/// (what `<input type="date">` sends, and `server::paging::DayRange` reads).
#[component]
pub(crate) fn DateRangeFields(id_prefix: &'static str, from: String, to: String) -> impl IntoView {
    let (from_id, to_id) = (format!("{id_prefix}-from"), format!("{id_prefix}-to"));
    view! {
        <div>
            <label for=from_id.clone()>"From"</label>
            <input id=from_id name="from" type="date" value=from/>
        </div>
        <div>
            <label for=to_id.clone()>"To"</label>
            <input id=to_id name="to" type="date" value=to/>
        </div>
    }
    .into_any()
}

/// The end of a history's filter form: the submit button, and while any
/// filter is set a link back to the unfiltered view.
#[component]
pub(crate) fn FilterActions(clear_href: &'static str, is_any: bool) -> impl IntoView {
    view! {
        <div class="history-filter-actions">
            <button type="submit" class="secondary">"Filter"</button>
            {is_any.then(|| view! { <a href=clear_href>"Clear"</a> })}
        </div>
    }
    .into_any()
}

/// Filters the server refused: its message, which says what to fix, and the
/// way back to the unfiltered view.
#[component]
pub(crate) fn FilterErrorNotice(
    error: AppError,
    testid: &'static str,
    clear_href: &'static str,
    clear_text: &'static str,
) -> impl IntoView {
    view! {
        <p class="form-error" role="alert" data-testid=testid>
            {format!("These filters cannot be used: {error}.")}
        </p>
        <p><a href=clear_href>{clear_text}</a></p>
    }
    .into_any()
}

/// `key=value&…` with values percent-encoded; empty values are left out.
pub(crate) fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{key}={}", percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_encode(raw: &str) -> String {
    let mut encoded = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_encode_values_and_skip_empty_ones() {
        assert_eq!(
            query_string(&[("kind", "call_charge"), ("from", ""), ("to", "a&b=c d")]),
            "kind=call_charge&to=a%26b%3Dc%20d"
        );
    }
}
