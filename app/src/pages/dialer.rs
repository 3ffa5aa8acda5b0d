use leptos::prelude::*;
use leptos_meta::Title;

/// The dialer. Calling arrives with the calling issue; until then it says so plainly.
#[component]
pub fn DialerPage() -> impl IntoView {
    view! {
        <Title text="Dialer"/>
        <h1>"Dialer"</h1>
        <section class="card empty-state">
            <h2>"Calling is not switched on yet"</h2>
            <p>"Soon you will type a number here, see the destination and price per minute, and call it from your browser."</p>
            <p>"Meanwhile you can look at your " <a href="/wallet">"wallet"</a> " and " <a href="/settings">"organization settings"</a> "."</p>
        </section>
    }
}
