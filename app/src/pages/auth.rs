//! /login and /register. Plain forms that post to server functions, so they
//! work without JavaScript; with it, errors appear inline without a reload.

use crate::api::auth::{Login, Register};
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
    view! {
        <Title text="Log in"/>
        <main class="auth-page" id="main">
            <section class="card auth-card">
                <h1>"Log in to Phonebooth"</h1>
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
