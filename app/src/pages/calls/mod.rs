//! /calls: the organization's call history. A GET form of filters (dates,
//! status, member, number), one page of calls newest first, page links, and
//! the CSV export of the same view (`server/src/exports/calls.rs`). All of it
//! is plain links and query parameters, so it works without JavaScript and a
//! filtered view can be shared as a link. Each call links to
//! /calls/:call_id (`detail.rs`), which explains its cost, and to the dialer
//! to call the number again.
//!
//! The server formats every value (`api::call_history`); this only lays it out.

mod detail;

pub use detail::CallDetailPage;

use crate::api::call_history::{
    call_history, CallHistoryPage, CallMember, CallRow, PageLinks, STATUS_CHOICES,
};
use crate::components::current_org::{current_org_id, for_current_org, loaded_org_id};
use crate::components::filters::{query_string, DateRangeFields, FilterActions, FilterErrorNotice};
use crate::components::form::ErrorNotice;
use crate::components::layout::MeResource;
use crate::components::pagination::HistorySummary;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The history's query parameters, as typed (the server validates them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Filters {
    from: String,
    to: String,
    status: String,
    member: String,
    number: String,
    /// A page link's parameter (`PageLinks`); empty is the newest page.
    page: String,
}

impl Filters {
    fn is_any(&self) -> bool {
        self.pairs().iter().any(|(_, value)| !value.is_empty())
    }

    /// The filters as query parameters, in the form's order.
    fn pairs(&self) -> [(&'static str, &str); 5] {
        [
            ("from", &self.from),
            ("to", &self.to),
            ("status", &self.status),
            ("member", &self.member),
            ("number", &self.number),
        ]
    }

    /// This view's page with `page` as its parameter ("" is the newest).
    fn page_href(&self, page: &str) -> String {
        let mut pairs = self.pairs().to_vec();
        pairs.push(("page", page));
        match query_string(&pairs) {
            query if query.is_empty() => "/calls".to_owned(),
            query => format!("/calls?{query}"),
        }
    }

    fn csv_href(&self, org_id: &str) -> String {
        let mut pairs = vec![("org_id", org_id)];
        pairs.extend(self.pairs());
        format!("/calls.csv?{}", query_string(&pairs))
    }
}

/// Where Redial goes: the dialer with the number filled in.
pub(crate) fn redial_href(e164: &str) -> String {
    format!("/dialer?{}", query_string(&[("number", e164)]))
}

#[component]
pub fn CallsPage() -> impl IntoView {
    let MeResource(me) = expect_context::<MeResource>();
    let query = use_query_map();
    let filters = Memo::new(move |_| {
        let query = query.read();
        let text = |key: &str| query.get(key).unwrap_or_default().trim().to_owned();
        Filters {
            from: text("from"),
            to: text("to"),
            status: text("status"),
            member: text("member"),
            number: text("number"),
            page: text("page"),
        }
    });
    let history = Resource::new(
        move || (current_org_id(me), filters.get()),
        move |(_, filters)| {
            for_current_org(me, move |org_id| {
                call_history(
                    org_id,
                    Some(filters.from),
                    Some(filters.to),
                    Some(filters.status),
                    Some(filters.member),
                    Some(filters.number),
                    Some(filters.page),
                )
            })
        },
    );
    view! {
        <Title text="Calls"/>
        <h1>"Calls"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading calls…"</p> }>
            {move || Suspend::new(async move {
                let result = history.await;
                // Loaded by now: the history's fetcher awaited it.
                let org_id = loaded_org_id(me).unwrap_or_default();
                let filters = filters.get_untracked();
                match result {
                    Ok(Some(page)) => view! {
                        <section class="card" aria-label="Call history">
                            <FilterForm filters=filters.clone() members=page.members.clone()/>
                            <CallsTable page filters org_id/>
                        </section>
                    }
                    .into_any(),
                    Ok(None) => ().into_any(),
                    Err(error @ AppError::Validation { .. }) => view! {
                        <section class="card" aria-label="Call history">
                            <FilterForm filters members=Vec::new()/>
                            <FilterErrorNotice error testid="calls-error" clear_href="/calls" clear_text="Show all calls"/>
                        </section>
                    }
                    .into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}

#[component]
fn FilterForm(filters: Filters, members: Vec<CallMember>) -> impl IntoView {
    let statuses = STATUS_CHOICES
        .iter()
        .map(|(value, label)| {
            let selected = filters.status == *value;
            view! { <option value=*value selected=selected>{*label}</option> }
        })
        .collect_view();
    let people = members
        .into_iter()
        .map(|m| {
            let selected = filters.member == m.user_id;
            view! { <option value=m.user_id selected=selected>{m.name}</option> }
        })
        .collect_view();
    view! {
        // A plain GET form: the filters become the page's query string.
        <form method="get" action="/calls" class="history-filters call-filters" aria-label="Filter calls">
            <DateRangeFields id_prefix="calls" from=filters.from.clone() to=filters.to.clone()/>
            <div>
                <label for="calls-status">"Status"</label>
                <select id="calls-status" name="status">
                    <option value="" selected=filters.status.is_empty()>"Any status"</option>
                    {statuses}
                </select>
            </div>
            <div>
                <label for="calls-member">"Member"</label>
                <select id="calls-member" name="member">
                    <option value="" selected=filters.member.is_empty()>"Everyone"</option>
                    {people}
                </select>
            </div>
            <div>
                <label for="calls-number">"Number"</label>
                <input id="calls-number" name="number" type="text" inputmode="tel" autocomplete="off"
                    placeholder="Digits, e.g. 20 7183" value=filters.number.clone()/>
            </div>
            <FilterActions clear_href="/calls" is_any=filters.is_any()/>
        </form>
        <p class="hint">"Dates are whole days in UTC; both ends are included. Numbers match on their digits."</p>
    }
    .into_any()
}

#[component]
fn CallsTable(page: CallHistoryPage, filters: Filters, org_id: String) -> impl IntoView {
    if page.total == 0 {
        return if filters.is_any() {
            view! { <p class="empty-state" data-testid="calls-empty">"No calls match these filters."</p> }
                .into_any()
        } else {
            view! {
                <div class="empty-state" data-testid="calls-empty">
                    <h2>"No calls yet"</h2>
                    <p>"Every call your organization makes will be listed here, with its duration and exactly what it cost."</p>
                    <p><a href="/dialer">"Make a call"</a></p>
                </div>
            }
            .into_any()
        };
    }
    let csv_href = filters.csv_href(&org_id);
    let rows_empty = page.rows.is_empty();
    view! {
        <HistorySummary total=page.total more_than=page.more_than_total noun=("call", "calls")
            csv_href csv_text="Export CSV" testid="calls-csv"/>
        <div class="table-scroll">
            <table class="table history-table calls-table">
                <thead>
                    <tr>
                        <th scope="col">"Time"</th>
                        <th scope="col">"Number"</th>
                        <th scope="col">"Destination"</th>
                        <th scope="col">"Member"</th>
                        <th scope="col" class="num">"Duration"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col" class="num">"Cost"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {page.rows.into_iter().map(|row| view! { <Row row/> }).collect_view()}
                </tbody>
            </table>
        </div>
        {rows_empty.then(|| view! {
            <p class="empty-state" data-testid="calls-empty">"No calls on this page: the calls it continued from are gone."</p>
        })}
        <PageNav links=page.links filters/>
    }
    .into_any()
}

/// Links through the history: its newest page, the newer and older pages
/// next to this one, its oldest page; each only where there is something
/// that way. Pages have no numbers: each link names the call it continues
/// from, so any page is as quick to find as the first.
#[component]
fn PageNav(links: PageLinks, filters: Filters) -> impl IntoView {
    if !links.any() {
        return ().into_any();
    }
    let link = |param: Option<String>, text: &'static str, rel: Option<&'static str>| {
        param.map(|param| view! { <a href=filters.page_href(&param) rel=rel>{text}</a> })
    };
    view! {
        <nav class="pagination" aria-label="Call history pages">
            {link(links.newest, "« Newest", None)}
            {link(links.newer, "← Newer", Some("prev"))}
            {link(links.older, "Older →", Some("next"))}
            {link(links.oldest, "Oldest »", None)}
        </nav>
    }
    .into_any()
}

#[component]
fn Row(row: CallRow) -> impl IntoView {
    let detail = format!("/calls/{}", row.call_id);
    let redial = redial_href(&row.number);
    let cost = row
        .cost
        .map(|cost| cost.to_string())
        .unwrap_or_else(|| "—".to_owned());
    let reason = row
        .end_reason_label
        .map(|reason| view! { <span class="call-end-reason">{reason}</span> });
    view! {
        <tr data-testid="call-row" data-status=row.status.clone()>
            <td class="nowrap"><a href=detail title="How this call was charged">{row.time}</a></td>
            <td class="nowrap">{row.number_display}</td>
            <td>{row.destination}</td>
            <td>{row.member}</td>
            <td class="num">{row.duration}</td>
            <td>{row.status_label}{reason}</td>
            <td class="num">{cost}</td>
            <td class="nowrap"><a href=redial>"Redial"</a></td>
        </tr>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_filters() {
        let filters = Filters {
            from: "2024-03-01".into(),
            status: "no-answer".into(),
            number: "+44 20".into(),
            ..Filters::default()
        };
        assert!(filters.is_any());
        assert!(!Filters::default().is_any());
        assert_eq!(
            filters.page_href("older.1709251200.call_0a"),
            "/calls?from=2024-03-01&status=no-answer&number=%2B44%2020&page=older.1709251200.call_0a"
        );
        assert_eq!(Filters::default().page_href(""), "/calls");
        assert_eq!(
            filters.csv_href("org_1"),
            "/calls.csv?org_id=org_1&from=2024-03-01&status=no-answer&number=%2B44%2020"
        );
    }

    #[test]
    fn redial_carries_the_number_url_encoded() {
        assert_eq!(
            redial_href("+442071838750"),
            "/dialer?number=%2B442071838750"
        );
    }
}
