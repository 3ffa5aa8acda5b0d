//! Call spend over the last 30 UTC days, as an inline SVG bar chart drawn on
//! the server: no chart library, no JavaScript. Bar heights are integer
//! arithmetic on micro-dollars; every bar names its day and amount for screen
//! readers and as a tooltip.

use crate::api::wallet::{wallet_spend, SpendChart, SPEND_CHART_DAYS};
use crate::components::current_org::{current_org_id, for_current_org};
use crate::components::form::ErrorNotice;
use crate::components::layout::MeResource;
use crate::domain::Money;
use leptos::prelude::*;

// The drawing, in SVG user units (the SVG scales to the card's width).
const WIDTH: i64 = 640;
const HEIGHT: i64 = 190;
const LEFT: i64 = 72;
const RIGHT: i64 = 8;
const TOP: i64 = 10;
const PLOT_HEIGHT: i64 = 150;
const BASELINE: i64 = TOP + PLOT_HEIGHT;

#[component]
pub fn SpendSection(version: Signal<u32>) -> impl IntoView {
    let MeResource(me) = expect_context::<MeResource>();
    let chart = Resource::new(
        move || (current_org_id(me), version.get()),
        move |_| for_current_org(me, wallet_spend),
    );
    view! {
        <section class="card spend" aria-labelledby="spend-heading">
            <h2 id="spend-heading">{format!("Call spend, last {SPEND_CHART_DAYS} days")}</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match chart.await {
                        Ok(Some(chart)) => view! { <Chart chart/> }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
    .into_any()
}

/// A bar's height: proportional to the day's spend, at least one unit when
/// there was any, so a small day is never drawn as none.
fn bar_height(spend: Money, max: Money) -> i64 {
    if spend <= Money::ZERO || max <= Money::ZERO {
        return 0;
    }
    let scaled = i128::from(spend.micros()) * i128::from(PLOT_HEIGHT) / i128::from(max.micros());
    i64::try_from(scaled)
        .unwrap_or(PLOT_HEIGHT)
        .clamp(1, PLOT_HEIGHT)
}

#[component]
fn Chart(chart: SpendChart) -> impl IntoView {
    if chart.total == Money::ZERO {
        return view! {
            <p class="empty-state" data-testid="spend-empty">
                "No calls were charged in the last 30 days. Daily spend will be drawn here once you call."
            </p>
        }
        .into_any();
    }
    let count = i64::try_from(chart.days.len()).unwrap_or(1).max(1);
    let slot = (WIDTH - LEFT - RIGHT) / count;
    let bar_width = (slot * 2 / 3).max(1);
    let first = chart
        .days
        .first()
        .map(|d| d.label.clone())
        .unwrap_or_default();
    let bars = chart
        .days
        .iter()
        .enumerate()
        .map(|(i, day)| {
            let x = LEFT + i64::try_from(i).unwrap_or(0) * slot;
            let height = bar_height(day.spend, chart.max);
            let label = format!("{}: {} spent on calls", day.date, day.spend);
            let title = label.clone();
            view! {
                <g role="img" aria-label=label>
                    <title>{title}</title>
                    // The full-height slot carries the tooltip for days with little or no spend.
                    <rect class="bar-slot" x=x y=TOP width=slot height=PLOT_HEIGHT></rect>
                    <rect class="bar" x={x + (slot - bar_width) / 2} y={BASELINE - height} width=bar_width height=height></rect>
                </g>
            }
        })
        .collect_view();
    view! {
        <p class="spend-total">
            {format!("{} spent on calls", chart.total)}
            <span class="muted">{format!(" · busiest day {}", chart.max)}</span>
        </p>
        <svg class="spend-chart" viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="group"
            aria-label=format!("Call spend per day for the last {SPEND_CHART_DAYS} days, in US dollars")>
            <line class="gridline" x1=LEFT y1=TOP x2={WIDTH - RIGHT} y2=TOP></line>
            <line class="axis" x1=LEFT y1=BASELINE x2={WIDTH - RIGHT} y2=BASELINE></line>
            <text class="axis-label" x={LEFT - 6} y={TOP + 4} text-anchor="end">{chart.max.to_string()}</text>
            <text class="axis-label" x={LEFT - 6} y=BASELINE text-anchor="end">"$0"</text>
            {bars}
            <text class="axis-label" x=LEFT y={HEIGHT - 6}>{first}</text>
            <text class="axis-label" x={WIDTH - RIGHT} y={HEIGHT - 6} text-anchor="end">"Today"</text>
        </svg>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_with_integer_math_and_small_days_stay_visible() {
        let max = Money::from_dollars(10).unwrap();
        assert_eq!(bar_height(max, max), PLOT_HEIGHT);
        assert_eq!(
            bar_height(Money::from_dollars(5).unwrap(), max),
            PLOT_HEIGHT / 2
        );
        assert_eq!(bar_height(Money::from_micros(1), max), 1);
        assert_eq!(bar_height(Money::ZERO, max), 0);
        assert_eq!(
            bar_height(Money::from_micros(i64::MAX), Money::from_micros(i64::MAX)),
            PLOT_HEIGHT
        );
    }
}
