use leptos::prelude::*;
use leptos_meta::Title;

/// Call history. Filled in by the calling issue.
#[component]
pub fn CallsPage() -> impl IntoView {
    view! {
        <Title text="Calls"/>
        <h1>"Calls"</h1>
        <section class="card empty-state">
            <h2>"No calls yet"</h2>
            <p>"Every call your organization makes will be listed here, with its duration and exactly what it cost."</p>
        </section>
    }
}
