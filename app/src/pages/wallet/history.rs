//! The transaction history: a GET form of filters (kind, from, to), one page
//! of entries newest first, page links and the CSV export of the same view.
//! All of it is plain links and query parameters, so it works without
//! JavaScript; with it, page links navigate in place.

use crate::api::wallet::{
    has_receipt, kind_label, wallet_history, HistoryPage, HistoryRow, ENTRY_KINDS,
};
use crate::components::current_org::{current_org_id, for_current_org, loaded_org_id};
use crate::components::filters::{query_string, DateRangeFields, FilterActions, FilterErrorNotice};
use crate::components::form::ErrorNotice;
use crate::components::layout::MeResource;
use crate::components::money::signed;
use crate::components::pagination::{HistorySummary, Pagination};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The history's query parameters, as typed (the server validates them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Filters {
    kind: String,
    from: String,
    to: String,
    page: Option<u32>,
}

impl Filters {
    fn is_any(&self) -> bool {
        !(self.kind.is_empty() && self.from.is_empty() && self.to.is_empty())
    }

    fn page_href(&self, page: u32) -> String {
        let page = page.to_string();
        let query = query_string(&[
            ("kind", &self.kind),
            ("from", &self.from),
            ("to", &self.to),
            ("page", &page),
        ]);
        format!("/wallet?{query}")
    }

    fn csv_href(&self, org_id: &str) -> String {
        let query = query_string(&[
            ("org_id", org_id),
            ("kind", &self.kind),
            ("from", &self.from),
            ("to", &self.to),
        ]);
        format!("/wallet/history.csv?{query}")
    }
}

#[component]
pub fn HistorySection(version: Signal<u32>) -> impl IntoView {
    let MeResource(me) = expect_context::<MeResource>();
    let query = use_query_map();
    let filters = Memo::new(move |_| {
        let query = query.read();
        let text = |key: &str| query.get(key).unwrap_or_default().trim().to_owned();
        Filters {
            kind: text("kind"),
            from: text("from"),
            to: text("to"),
            // Not a number: the first page (nothing to explain there).
            page: query.get("page").and_then(|p| p.trim().parse().ok()),
        }
    });
    let history = Resource::new(
        move || (current_org_id(me), filters.get(), version.get()),
        move |(_, filters, _)| {
            for_current_org(me, move |org_id| {
                wallet_history(
                    org_id,
                    Some(filters.kind),
                    Some(filters.from),
                    Some(filters.to),
                    filters.page,
                )
            })
        },
    );
    view! {
        <section class="card wallet-history" id="history" aria-labelledby="history-heading">
            <h2 id="history-heading">"Transactions"</h2>
            {move || view! { <FilterForm filters=filters.get()/> }}
            <Transition fallback=|| view! { <p class="muted">"Loading transactions…"</p> }>
                {move || Suspend::new(async move {
                    let result = history.await;
                    // Loaded by now: the history's fetcher awaited it.
                    let org_id = loaded_org_id(me).unwrap_or_default();
                    match result {
                        Ok(Some(page)) => {
                            view! { <HistoryTable page filters=filters.get_untracked() org_id/> }.into_any()
                        }
                        Ok(None) => ().into_any(),
                        Err(error @ AppError::Validation { .. }) => view! {
                            <FilterErrorNotice error testid="history-error" clear_href="/wallet" clear_text="Show all transactions"/>
                        }.into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
    .into_any()
}

#[component]
fn FilterForm(filters: Filters) -> impl IntoView {
    let options = ENTRY_KINDS
        .iter()
        .map(|(kind, label)| {
            let selected = filters.kind == *kind;
            view! { <option value=*kind selected=selected>{*label}</option> }
        })
        .collect_view();
    view! {
        // A plain GET form: the filters become the page's query string.
        <form method="get" action="/wallet" class="history-filters" aria-label="Filter transactions">
            <div>
                <label for="history-kind">"Kind"</label>
                <select id="history-kind" name="kind">
                    <option value="" selected=filters.kind.is_empty()>"All kinds"</option>
                    {options}
                </select>
            </div>
            <DateRangeFields id_prefix="history" from=filters.from.clone() to=filters.to.clone()/>
            <FilterActions clear_href="/wallet" is_any=filters.is_any()/>
        </form>
        <p class="hint">"Dates are whole days in UTC; both ends are included."</p>
    }
    .into_any()
}

#[component]
fn HistoryTable(page: HistoryPage, filters: Filters, org_id: String) -> impl IntoView {
    if page.total == 0 {
        let message = if filters.is_any() {
            "No transactions match these filters."
        } else {
            "No transactions yet. Purchases, call charges and refunds will be listed here."
        };
        return view! { <p class="empty-state" data-testid="history-empty">{message}</p> }
            .into_any();
    }
    let csv_href = filters.csv_href(&org_id);
    view! {
        <HistorySummary total=page.total noun=("transaction", "transactions") csv_href
            csv_text="Download CSV" testid="history-csv"/>
        <div class="table-scroll">
            <table class="table history-table">
                <thead>
                    <tr>
                        <th scope="col">"Date"</th>
                        <th scope="col">"Kind"</th>
                        <th scope="col">"Description"</th>
                        <th scope="col" class="num">"Amount"</th>
                        <th scope="col" class="num">"Balance after"</th>
                    </tr>
                </thead>
                <tbody>
                    {page.rows.into_iter().map(|row| view! { <Row row/> }).collect_view()}
                </tbody>
            </table>
        </div>
        <Pagination page=page.page pages=page.pages href=move |n| filters.page_href(n) label="Transaction pages"/>
    }
    .into_any()
}

#[component]
fn Row(row: HistoryRow) -> impl IntoView {
    let receipt = has_receipt(&row.kind).then(|| {
        view! { " " <a class="receipt-link" href=format!("/wallet/receipts/{}", row.entry_id)>"Receipt"</a> }
    });
    let direction = if row.amount.is_negative() {
        "amount debit"
    } else {
        "amount credit"
    };
    view! {
        <tr data-testid="history-row" data-kind=row.kind.clone()>
            <td class="nowrap">{row.time}</td>
            <td>{kind_label(&row.kind).to_owned()}</td>
            <td>{row.description}{receipt}</td>
            <td class=format!("num {direction}")>{signed(row.amount)}</td>
            <td class="num">{row.balance_after.to_string()}</td>
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
            kind: "refund".into(),
            from: "2024-03-01".into(),
            to: String::new(),
            page: None,
        };
        assert_eq!(
            filters.page_href(2),
            "/wallet?kind=refund&from=2024-03-01&page=2"
        );
        assert_eq!(
            filters.csv_href("org_1"),
            "/wallet/history.csv?org_id=org_1&kind=refund&from=2024-03-01"
        );
    }
}
