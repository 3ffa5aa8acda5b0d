//! `/account`: the signed-in person's own account. Who they are, changing
//! the password, their signed-in sessions (and signing out the others),
//! downloading their data, and deleting the account. Every form posts to a
//! server function that redirects back, so all of it works without
//! JavaScript; with it, the forms submit in place and the list refreshes.

use crate::api::account::{
    load_account, AccountOverview, ChangePassword, DeleteAccount, SignOutOtherSessions,
    DATA_EXPORT_PATH,
};
use crate::components::form::{action_error, ErrorNotice, FieldError, FormError};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn AccountPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let sign_out = ServerAction::<SignOutOtherSessions>::new();
    let account = Resource::new(
        move || (change.version().get(), sign_out.version().get()),
        |_| load_account(),
    );
    view! {
        <Title text="Your account"/>
        <h1>"Your account"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading your account…"</p> }>
            {move || Suspend::new(async move {
                match account.await {
                    Ok(account) => view! { <Profile account=account.clone()/> <Sessions account sign_out/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Transition>
        <PasswordForm change/>
        <YourData/>
        <DeleteForm/>
    }
}

#[component]
fn Profile(account: AccountOverview) -> impl IntoView {
    view! {
        <section class="card" id="profile">
            <h2>"Profile"</h2>
            <dl>
                <dt>"Name"</dt><dd data-testid="account-name">{account.name}</dd>
                <dt>"Email"</dt><dd data-testid="account-email">{account.email}</dd>
            </dl>
        </section>
    }
}

/// What a redirect back to this page says happened (`?changed=…`).
fn changed_param() -> Signal<Option<String>> {
    let query = use_query_map();
    Signal::derive(move || query.read().get("changed"))
}

#[component]
fn PasswordForm(change: ServerAction<ChangePassword>) -> impl IntoView {
    let error = action_error(change);
    let changed = changed_param();
    let done = move || {
        change.value().get().is_some_and(|r| r.is_ok())
            || (change.value().get().is_none() && changed.get().as_deref() == Some("password"))
    };
    view! {
        <section class="card" id="password">
            <h2>"Password"</h2>
            <p class="muted">"Changing your password signs you out everywhere else; this browser stays signed in."</p>
            <ActionForm action=change>
                <FormError error fields=&["current_password", "new_password"]/>
                <label for="current-password">"Current password"</label>
                <input id="current-password" name="current_password" type="password"
                    autocomplete="current-password" required/>
                <FieldError error field="current_password"/>
                <label for="new-password">"New password"</label>
                <input id="new-password" name="new_password" type="password" autocomplete="new-password"
                    minlength="8" maxlength="128" required aria-describedby="new-password-hint"/>
                <p class="hint" id="new-password-hint">"8 to 128 characters; common passwords are refused."</p>
                <FieldError error field="new_password"/>
                <button type="submit" data-testid="change-password" disabled=move || change.pending().get()>
                    {move || if change.pending().get() { "Saving…" } else { "Change password" }}
                </button>
                {move || done().then(|| view! {
                    <p class="notice" role="status" data-testid="password-changed">
                        "Password changed. Your other sessions were signed out."
                    </p>
                })}
            </ActionForm>
        </section>
    }
}

#[component]
fn Sessions(
    account: AccountOverview,
    sign_out: ServerAction<SignOutOtherSessions>,
) -> impl IntoView {
    let error = action_error(sign_out);
    let changed = changed_param();
    let done = move || {
        sign_out.value().get().is_some_and(|r| r.is_ok())
            || (sign_out.value().get().is_none() && changed.get().as_deref() == Some("sessions"))
    };
    let others = account.sessions.iter().filter(|s| !s.is_current).count();
    view! {
        <section class="card" id="sessions">
            <h2>"Signed-in sessions"</h2>
            <div class="table-scroll">
                <table class="table" data-testid="sessions">
                    <thead><tr>
                        <th scope="col">"Browser"</th>
                        <th scope="col">"Signed in from"</th>
                        <th scope="col">"Signed in"</th>
                        <th scope="col">"Last active"</th>
                    </tr></thead>
                    <tbody>
                        {account.sessions.into_iter().map(|s| {
                            let browser = if s.browser.is_empty() { "Unknown browser".to_owned() } else { s.browser };
                            view! {
                                <tr data-current=s.is_current.to_string()>
                                    <td>
                                        {browser}
                                        {s.is_current.then(|| view! { " " <strong>"(this session)"</strong> })}
                                    </td>
                                    <td>{s.ip}</td>
                                    <td>{s.signed_in}</td>
                                    <td>{s.last_active}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <p class="hint">"Last active is updated about once an hour."</p>
            <ActionForm action=sign_out>
                <FormError error fields=&[]/>
                <button type="submit" class="secondary" data-testid="sign-out-others"
                    disabled=move || others == 0 || sign_out.pending().get()>
                    "Sign out other sessions"
                </button>
                {move || done().then(|| view! {
                    <p class="notice" role="status">"Every other session was signed out."</p>
                })}
            </ActionForm>
        </section>
    }
}

#[component]
fn YourData() -> impl IntoView {
    view! {
        <section class="card" id="data">
            <h2>"Your data"</h2>
            <p class="muted">"A JSON file with your account, your memberships and every call you placed."</p>
            <a href=DATA_EXPORT_PATH download="" rel="external" data-testid="download-data">"Download my data"</a>
        </section>
    }
}

#[component]
fn DeleteForm() -> impl IntoView {
    let delete = ServerAction::<DeleteAccount>::new();
    let error = action_error(delete);
    view! {
        <section class="card" id="delete">
            <h2>"Delete my account"</h2>
            <p class="muted">
                "Your name and email are erased, you leave every organization and every session ends. "
                "Calls you placed and the wallet's records stay, as financial records, shown as \u{201c}deleted user\u{201d}. "
                "If you are the only owner of an organization with other members, make someone else an owner first."
            </p>
            <ActionForm action=delete>
                <FormError error fields=&["password"]/>
                <label for="delete-password">"Your password"</label>
                <input id="delete-password" name="password" type="password" autocomplete="current-password" required/>
                <FieldError error field="password"/>
                <button type="submit" class="danger" data-testid="delete-account" disabled=move || delete.pending().get()>
                    {move || if delete.pending().get() { "Deleting…" } else { "Delete my account" }}
                </button>
            </ActionForm>
        </section>
    }
}
