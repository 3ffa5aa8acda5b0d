//! The signed-in layout: header with navigation, organization switcher and user
//! menu, then the page. It provides the current person (`MeResource`) to pages.

use crate::api::auth::{current_account, Logout, Me};
use crate::api::org::SwitchOrg;
use crate::api::wallet::{wallet_overview, WalletStatus};
use crate::components::current_org::current_org_id;
use crate::components::form::answer_with_status_of;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect, A};
use leptos_router::hooks::use_location;

/// The logged-in person, shared by the layout and the pages inside it.
#[derive(Clone, Copy)]
pub struct MeResource(pub Resource<Result<Option<Me>, AppError>>);

/// The current organization's wallet status behind the low-balance banner;
/// pages that change it (the wallet) refetch it.
#[derive(Clone, Copy)]
pub struct WalletStatusResource(pub Resource<Result<Option<WalletStatus>, AppError>>);

#[component]
pub fn AppLayout() -> impl IntoView {
    let switch = ServerAction::<SwitchOrg>::new();
    let logout = ServerAction::<Logout>::new();
    let me_resource = Resource::new(
        move || (switch.version().get(), logout.version().get()),
        |_| current_account(),
    );
    provide_context(MeResource(me_resource));
    let location = use_location();
    // Re-read on every page so the banner appears (or goes) as money moves.
    let wallet_status = Resource::new(
        // The organization part of the key is constant on the server, so the
        // status is read once per render, not again when the account loads.
        move || (location.pathname.get(), current_org_id(me_resource)),
        move |_| async move {
            match me_resource.await {
                Ok(Some(me)) => wallet_overview(me.current_org.org_id).await.map(Some),
                Ok(None) => Ok(None),
                Err(error) => Err(error),
            }
        },
    );
    provide_context(WalletStatusResource(wallet_status));

    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="app-header">
            <a class="brand" href="/dialer">"☎ Phonebooth"</a>
            <nav aria-label="Main">
                <A href="/dialer">"Dialer"</A>
                <A href="/wallet">"Wallet"</A>
                <A href="/calls">"Calls"</A>
                <A href="/settings">"Settings"</A>
            </nav>
            <Transition fallback=|| view! { <span class="header-pending">"Loading…"</span> }>
                {move || Suspend::new(async move {
                    match me_resource.await {
                        Ok(Some(me)) => {
                            let here = location.pathname.get_untracked();
                            view! { <AccountControls me switch logout here/> }.into_any()
                        }
                        Ok(None) => {
                            let next = location.pathname.get_untracked();
                            view! { <Redirect path=format!("/login?next={next}")/> }.into_any()
                        }
                        Err(error) => {
                            answer_with_status_of(&error);
                            view! { <span class="form-error">{error.to_string()}</span> }.into_any()
                        }
                    }
                })}
            </Transition>
        </header>
        <main id="main" class="page">
            // Removed from (or left) the organization this session worked in.
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match me_resource.await {
                        Ok(Some(Me { org_notice: Some(notice), current_org, .. })) => Some(view! {
                            <p class="notice" role="status" data-testid="org-notice">
                                {notice} " You are now working in " {current_org.name} "."
                            </p>
                        }),
                        _ => None,
                    }
                })}
            </Transition>
            <AccessBannerView status=wallet_status/>
            <LowBalanceBanner status=wallet_status/>
            <Outlet/>
        </main>
    }
}

#[component]
fn AccountControls(
    me: Me,
    switch: ServerAction<SwitchOrg>,
    logout: ServerAction<Logout>,
    here: String,
) -> impl IntoView {
    let current = me.current_org.org_id.clone();
    let several = me.orgs.len() > 1;
    view! {
        <div class="account">
            <ActionForm action=switch attr:class="org-switcher">
                <label for="org-switcher">"Organization"</label>
                <select id="org-switcher" name="org_id" data-testid="org-switcher">
                    {me.orgs.into_iter().map(|org| {
                        let selected = org.org_id == current;
                        view! { <option value=org.org_id selected=selected>{org.name}</option> }
                    }).collect_view()}
                </select>
                <input type="hidden" name="next" value=here/>
                <button type="submit" class="secondary" disabled=!several title="Switch to the chosen organization">
                    "Switch"
                </button>
            </ActionForm>
            <details class="user-menu">
                <summary data-testid="user-menu">{me.name}</summary>
                <div class="user-menu-panel">
                    <p class="muted">{me.email}</p>
                    <p class="muted">"Role: " {me.current_org.role.to_string()}</p>
                    <p><a href="/account" data-testid="account-link">"Your account"</a></p>
                    <ActionForm action=logout>
                        <button type="submit" data-testid="logout">"Log out"</button>
                    </ActionForm>
                </div>
            </details>
        </div>
    }
}

/// Shown on every signed-in page while the subscription needs attention:
/// paused, or a payment overdue (a countdown in the grace period, then
/// blocked). Owners and admins get the way to fix it; members are told whom to ask.
#[component]
fn AccessBannerView(status: Resource<Result<Option<WalletStatus>, AppError>>) -> impl IntoView {
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match status.await {
                    Ok(Some(WalletStatus { access_banner: Some(banner), .. })) => Some(view! {
                        <div class=format!("access-banner access-{}", banner.kind) role="status" data-testid="access-banner" data-kind=banner.kind.clone()>
                            {banner.text.clone()}
                            {banner.can_manage.then(|| view! { " " <a href="/settings#billing">"Plan and billing"</a> })}
                        </div>
                    }),
                    _ => None,
                }
            })}
        </Transition>
    }
    .into_any()
}

/// Shown on every signed-in page while available credit is below the
/// organization's alert threshold. Errors stay quiet here: the page itself reports them.
#[component]
fn LowBalanceBanner(status: Resource<Result<Option<WalletStatus>, AppError>>) -> impl IntoView {
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match status.await {
                    Ok(Some(status)) if status.is_low => Some(view! {
                        <div class="low-balance-banner" role="status" data-testid="low-balance-banner">
                            <strong>"Low balance: "</strong>
                            {format!(
                                "{} available, below your alert of {}. ",
                                status.available, status.low_balance_threshold,
                            )}
                            <a href="/wallet">"Add credits"</a>
                        </div>
                    }),
                    _ => None,
                }
            })}
        </Transition>
    }
    .into_any()
}
