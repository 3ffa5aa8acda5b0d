//! The paged parts of a history (the wallet's transactions, the calls): how
//! many rows the filters match with the link to the CSV export of the same
//! view (`HistorySummary`), and the numbered page links under the wallet's
//! table (`Pagination`; the calls page by key, `pages/calls`). Both are plain links, so they work without JavaScript; the
//! page builds each page's address with its filters (`filters::query_string`).

use crate::components::money::group_thousands;
use leptos::prelude::*;

/// How many rows a history's filters match (`noun`: singular, plural), and
/// the link to the CSV export of the same view. `more_than`: the count
/// stopped at `total` and more match.
#[component]
pub(crate) fn HistorySummary(
    total: i64,
    #[prop(optional)] more_than: bool,
    noun: (&'static str, &'static str),
    csv_href: String,
    csv_text: &'static str,
    testid: &'static str,
) -> impl IntoView {
    let summary = if more_than {
        format!("More than {} {}", group_thousands(total), noun.1)
    } else if total == 1 {
        format!("1 {}", noun.0)
    } else {
        format!("{} {}", group_thousands(total), noun.1)
    };
    view! {
        <div class="history-summary">
            <p class="muted">{summary}</p>
            // `download` also tells the client-side router to leave this link to the browser.
            <a href=csv_href download="" rel="external" data-testid=testid>{csv_text}</a>
        </div>
    }
    .into_any()
}

/// Page links of a history (the wallet's and the calls'): `href(n)` is the
/// address of page `n` with the view's filters; `label` names the pages for
/// screen readers ("Transaction pages").
#[component]
pub(crate) fn Pagination(
    page: u32,
    pages: u32,
    href: impl Fn(u32) -> String + 'static,
    label: &'static str,
) -> impl IntoView {
    if pages <= 1 {
        return ().into_any();
    }
    let link = |n: u32, text: String, rel: Option<&'static str>| {
        view! { <a href=href(n) rel=rel>{text}</a> }
    };
    let previous = (page > 1).then(|| link(page - 1, "← Newer".to_owned(), Some("prev")));
    let next = (page < pages).then(|| link(page + 1, "Older →".to_owned(), Some("next")));
    let numbers = page_numbers(page, pages)
        .into_iter()
        .map(|n| match n {
            Some(n) if n == page => {
                view! { <span aria-current="page" class="current">{n}</span> }.into_any()
            }
            Some(n) => link(n, n.to_string(), None).into_any(),
            None => view! { <span class="gap">"…"</span> }.into_any(),
        })
        .collect_view();
    view! {
        <nav class="pagination" aria-label=label>
            {previous}
            {numbers}
            {next}
            <span class="muted">{format!("Page {page} of {pages}")}</span>
        </nav>
    }
    .into_any()
}

/// First, last, and two either side of the current page, with gaps marked.
fn page_numbers(page: u32, pages: u32) -> Vec<Option<u32>> {
    let mut shown: Vec<Option<u32>> = Vec::new();
    for n in 1..=pages {
        if n == 1 || n == pages || n.abs_diff(page) <= 2 {
            if let Some(Some(last)) = shown.last() {
                if n > last + 1 {
                    shown.push(None);
                }
            }
            shown.push(Some(n));
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_show_the_ends_and_the_neighbourhood() {
        assert_eq!(page_numbers(1, 1), vec![Some(1)]);
        assert_eq!(
            page_numbers(5, 10),
            vec![
                Some(1),
                None,
                Some(3),
                Some(4),
                Some(5),
                Some(6),
                Some(7),
                None,
                Some(10)
            ]
        );
        assert_eq!(page_numbers(2, 4), vec![Some(1), Some(2), Some(3), Some(4)]);
    }
}
