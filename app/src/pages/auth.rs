//! /login, /register, /forgot-password and /reset-password. Plain forms that
//! post to server functions, so they work without JavaScript; with it, errors
//! appear inline without a reload.

use crate::api::auth::{ForgotPassword, Login, Register, ResetPassword};
use crate::components::form::{action_error, FieldError, FormError};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

fn next_param() -> Signal<String> {
    let query = use_query_map();
    Signal::derive(move || query.read().get("next").unwrap_or_default())
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let error = action_error(login);
    let next = next_param();
    let register_href = move || match next.get() {
        n if n.is_empty() => "/register".to_owned(),
        n => format!("/register?next={n}"),
    };
    let query = use_query_map();
    let was_reset = move || query.read().get("reset").is_some();
    view! {
        <Title text="Log in"/>
        <main class="auth-page" id="main">
            <section class="card auth-card">
                <h1>"Log in to Phonebooth"</h1>
                <Show when=was_reset>
                    <p class="notice" role="status">"Your password was changed and every session signed out. Log in with the new password."</p>
                </Show>
                <ActionForm action=login>
                    <FormError error fields=&["email", "password"]/>
                    <label for="email">"Email"</label>
                    <input id="email" name="email" type="email" autocomplete="email" required/>
                    <FieldError error field="email"/>
                    <label for="password">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required/>
                    <FieldError error field="password"/>
                    <input type="hidden" name="next" value=next/>
                    <button type="submit" disabled=move || login.pending().get()>
                        {move || if login.pending().get() { "Logging in…" } else { "Log in" }}
                    </button>
                </ActionForm>
                <p class="muted"><a href="/forgot-password">"Forgot your password?"</a></p>
                <p class="muted">"New here? " <a href=register_href>"Create an account"</a></p>
            </section>
        </main>
    }
}

#[component]
pub fn RegisterPage() -> impl IntoView {
    let register = ServerAction::<Register>::new();
    let error = action_error(register);
    let next = next_param();
    view! {
        <Title text="Create an account"/>
        <main class="auth-page" id="main">
            <section class="card auth-card">
                <h1>"Create your Phonebooth account"</h1>
                <p class="muted">"You get a personal organization to buy credits and make calls."</p>
                <ActionForm action=register>
                    <FormError error fields=&["name", "email", "password"]/>
                    <label for="name">"Your name"</label>
                    <input id="name" name="name" type="text" autocomplete="name" maxlength="100" required/>
                    <FieldError error field="name"/>
                    <label for="email">"Email"</label>
                    <input id="email" name="email" type="email" autocomplete="email" required/>
                    <FieldError error field="email"/>
                    <label for="password">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="new-password"
                        minlength="8" maxlength="128" required aria-describedby="password-hint"/>
                    <p class="hint" id="password-hint">"8 to 128 characters; common passwords are refused."</p>
                    <FieldError error field="password"/>
                    <input type="hidden" name="next" value=next/>
                    <button type="submit" disabled=move || register.pending().get()>
                        {move || if register.pending().get() { "Creating your account…" } else { "Create account" }}
                    </button>
                </ActionForm>
                <p class="muted">"Already have an account? " <a href="/login">"Log in"</a></p>
            </section>
        </main>
    }
}

/// Asks for a reset link. The answer is the same whether or not the address
/// has an account: the "check your mail" message (`?sent=1`).
#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let forgot = ServerAction::<ForgotPassword>::new();
    let error = action_error(forgot);
    let query = use_query_map();
    let sent = move || query.read().get("sent").is_some();
    view! {
        <Title text="Forgot your password?"/>
        <main class="auth-page" id="main">
            <section class="card auth-card">
                <h1>"Reset your password"</h1>
                <Show when=sent>
                    <p class="notice" role="status">
                        "If an account exists for that address, a mail with a link to choose a new password is on its way. The link works once, for 30 minutes."
                    </p>
                    <p class="hint">"No mail after a few minutes? Look in your spam folder, or ask whoever runs this Phonebooth for a reset link."</p>
                </Show>
                <p class="muted">"Enter the email address of your account and we will mail you a link to choose a new password."</p>
                <ActionForm action=forgot>
                    <FormError error fields=&["email"]/>
                    <label for="email">"Email"</label>
                    <input id="email" name="email" type="email" autocomplete="email" required/>
                    <FieldError error field="email"/>
                    <button type="submit" disabled=move || forgot.pending().get()>
                        {move || if forgot.pending().get() { "Sending…" } else { "Send the reset link" }}
                    </button>
                </ActionForm>
                <p class="muted"><a href="/login">"Back to log in"</a></p>
            </section>
        </main>
    }
}

/// The page a reset mail links to: the token rides along in a hidden field.
#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let reset = ServerAction::<ResetPassword>::new();
    let error = action_error(reset);
    let query = use_query_map();
    let token = Signal::derive(move || query.read().get("token").unwrap_or_default());
    view! {
        <Title text="Choose a new password"/>
        <main class="auth-page" id="main">
            <section class="card auth-card">
                <h1>"Choose a new password"</h1>
                <p class="muted">"Setting a new password signs you out on every device."</p>
                <ActionForm action=reset>
                    <FormError error fields=&["password"]/>
                    <input type="hidden" name="token" value=token/>
                    <label for="password">"New password"</label>
                    <input id="password" name="password" type="password" autocomplete="new-password"
                        minlength="8" maxlength="128" required aria-describedby="password-hint"/>
                    <p class="hint" id="password-hint">"8 to 128 characters; common passwords are refused."</p>
                    <FieldError error field="password"/>
                    <button type="submit" disabled=move || reset.pending().get()>
                        {move || if reset.pending().get() { "Saving…" } else { "Set the new password" }}
                    </button>
                </ActionForm>
                <p class="muted"><a href="/forgot-password">"Ask for a new link"</a></p>
            </section>
        </main>
    }
}
