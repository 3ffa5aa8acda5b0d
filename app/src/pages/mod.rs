//! One module per route area, and the route types that load each page's code
//! on demand.

pub mod account;
pub mod auth;
pub mod calls;
pub mod dialer;
pub mod invite;
pub mod not_found;
pub mod sandbox_checkout;
pub mod sandbox_portal;
pub mod settings;
pub mod wallet;

/// Declares routes whose page is compiled into a WASM chunk of its own: the
/// browser fetches it when the route is first opened (the server names the
/// open page's chunks in the page's head, so the first visit fetches them
/// alongside the main module), and the first download holds only the
/// framework, the router and the layout. `data` is empty because each page
/// loads its own data through its Resources, which hydrate from the server's
/// render; docs/performance.md measures what this takes off the first page.
macro_rules! lazy_pages {
    ($($route:ident => $page:path;)*) => {$(
        pub struct $route;

        #[leptos_router::lazy_route]
        impl leptos_router::LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> leptos::prelude::AnyView {
                use leptos::prelude::IntoAny;
                $page().into_any()
            }
        }
    )*};
}

lazy_pages! {
    Login => auth::LoginPage;
    Register => auth::RegisterPage;
    ForgotPassword => auth::ForgotPasswordPage;
    ResetPassword => auth::ResetPasswordPage;
    Invite => invite::InvitePage;
    SandboxCheckout => sandbox_checkout::SandboxCheckoutPage;
    SandboxPortal => sandbox_portal::SandboxPortalPage;
    Dialer => dialer::DialerPage;
    Wallet => wallet::WalletPage;
    Receipt => wallet::ReceiptPage;
    Calls => calls::CallsPage;
    CallDetail => calls::CallDetailPage;
    Settings => settings::SettingsPage;
    Account => account::AccountPage;
}
