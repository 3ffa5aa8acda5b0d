use leptos::prelude::*;
use leptos_meta::Title;

/// The wallet. Credits and purchases arrive with the wallet issue.
#[component]
pub fn WalletPage() -> impl IntoView {
    view! {
        <Title text="Wallet"/>
        <h1>"Wallet"</h1>
        <section class="card empty-state">
            <h2>"No credits yet"</h2>
            <p>"Buying prepaid credits is not available yet. Your organization's balance and every transaction will appear here."</p>
        </section>
    }
}
