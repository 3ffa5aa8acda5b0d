//! Phonebooth's isomorphic application: pages, components and server functions.
//! Built with `ssr` into the server binary and with `hydrate` into WASM; never both.
//!
//! Map: `domain/` (types that parse), `api/` (server functions), `pages/` (one
//! module per route area), `components/` (layout and form pieces), `server/`
//! (ssr only: database, guards, sessions). Start reading at `App` below.

pub mod api;
pub mod components;
pub mod domain;
pub mod error;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod server;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::{path, Lazy, SsrMode};

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // A fresh nonce per page lets our own inline hydration scripts run under a
    // Content-Security-Policy that allows no other inline script.
    #[cfg(feature = "ssr")]
    server_security_headers();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                // Declared, so browsers do not ask for /favicon.ico (a 404 page render) on every visit.
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[cfg(feature = "ssr")]
fn server_security_headers() {
    use leptos::nonce::{provide_nonce, use_nonce};
    provide_nonce();
    let nonce = use_nonce().map(|n| n.to_string()).unwrap_or_default();
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        let policy = format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
             img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; \
             form-action 'self'; frame-ancestors 'none'"
        );
        match http::HeaderValue::from_str(&policy) {
            Ok(value) => response.insert_header(http::header::CONTENT_SECURITY_POLICY, value),
            Err(_) => tracing::error!(%nonce, "the page's policy is not a valid header value"),
        }
    } else {
        tracing::error!(
            "no ResponseOptions while rendering the shell: the page goes without its policy"
        );
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/phonebooth.css"/>
        <Title formatter=|page: String| if page.is_empty() { "Phonebooth".to_owned() } else { format!("{page} · Phonebooth") }/>
        <Router>
            <Routes fallback=pages::not_found::NotFound>
                <Route path=path!("/") view=|| view! { <Redirect path="/dialer"/> }/>
                <Route path=path!("/login") view={Lazy::<pages::Login>::new()}/>
                <Route path=path!("/register") view={Lazy::<pages::Register>::new()}/>
                <Route path=path!("/forgot-password") view={Lazy::<pages::ForgotPassword>::new()}/>
                <Route path=path!("/reset-password") view={Lazy::<pages::ResetPassword>::new()}/>
                <Route path=path!("/invite/:token") view={Lazy::<pages::Invite>::new()} ssr=SsrMode::Async/>
                // The sandbox's stand-in for Stripe's hosted checkout (no login, like Stripe).
                <Route path=path!("/sandbox/checkout/:session_id") view={Lazy::<pages::SandboxCheckout>::new()} ssr=SsrMode::Async/>
                // Its stand-in for Stripe's customer portal (no login either: the session id is the capability).
                <Route path=path!("/sandbox/portal/:portal_session_id") view={Lazy::<pages::SandboxPortal>::new()} ssr=SsrMode::Async/>
                // Async: the server waits for the page's data and sends it whole, so
                // the signed-in pages are complete without JavaScript (no streamed fallbacks).
                <ParentRoute path=path!("") view=components::layout::AppLayout ssr=SsrMode::Async>
                    <Route path=path!("/dialer") view={Lazy::<pages::Dialer>::new()}/>
                    <Route path=path!("/wallet") view={Lazy::<pages::Wallet>::new()}/>
                    <Route path=path!("/wallet/receipts/:entry_id") view={Lazy::<pages::Receipt>::new()}/>
                    <Route path=path!("/calls") view={Lazy::<pages::Calls>::new()}/>
                    <Route path=path!("/calls/:call_id") view={Lazy::<pages::CallDetail>::new()}/>
                    <Route path=path!("/settings") view={Lazy::<pages::Settings>::new()}/>
                    <Route path=path!("/account") view={Lazy::<pages::Account>::new()}/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
