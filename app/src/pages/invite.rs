//! `/invite/<token>`: the page an invitation link opens. Whoever follows it
//! learns which organization invites them and what to do next: join (signed
//! in with the invited email), create an account (email fixed by the
//! invitation), log in first, or why the link cannot be used.

use crate::api::team::{
    load_invitation, AcceptInvitation, InvitationPage, Invitee, RegisterFromInvitation,
};
use crate::components::form::{action_error, ErrorNotice, FieldError, FormError};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_location, use_params_map};

#[component]
pub fn InvitePage() -> impl IntoView {
    let params = use_params_map();
    let token = Signal::derive(move || params.read().get("token").unwrap_or_default());
    let page = Resource::new(move || token.get(), load_invitation);
    view! {
        <Title text="Invitation"/>
        <main class="auth-page" id="main">
            <section class="card auth-card">
                <Transition fallback=|| view! { <p class="muted">"Loading the invitation…"</p> }>
                    {move || Suspend::new(async move {
                        match page.await {
                            Ok(page) => view! { <Invitation page token=token.get_untracked()/> }.into_any(),
                            Err(error) => view! { <ErrorNotice error/> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        </main>
    }
}

#[component]
fn Invitation(page: InvitationPage, token: String) -> impl IntoView {
    if let Some(problem) = page.problem {
        return view! {
            <h1>"This invitation cannot be used"</h1>
            <p class="form-error" role="alert" data-testid="invitation-problem">{capitalized(&problem)}"."</p>
            <p class="muted"><a href="/login">"Log in"</a>" or "<a href="/register">"create an account"</a>"."</p>
        }
        .into_any();
    }
    let inviter = page.inviter.clone().unwrap_or_else(|| "Someone".to_owned());
    let heading = format!("Join {}", page.org_name);
    let intro = format!(
        "{inviter} invites {} to join {} on Phonebooth as {}.",
        page.email, page.org_name, page.role
    );
    let next = use_location().pathname.get_untracked();
    let body = match page.invitee {
        Invitee::Invited { already_member: true } => view! {
            <p class="notice" role="status" data-testid="invitation-problem">"You are already a member of this organization."</p>
            <p><a href="/dialer">"Go to the dialer"</a></p>
        }
        .into_any(),
        Invitee::Invited { already_member: false } => view! { <AcceptForm token/> }.into_any(),
        Invitee::SomeoneElse { signed_in_as } => view! {
            <p class="form-error" role="alert" data-testid="invitation-problem">
                {format!(
                    "This invitation is for {}, but you are signed in as {signed_in_as}. Log out, then open the link again.",
                    page.email
                )}
            </p>
        }
        .into_any(),
        Invitee::SignedOut { has_account: true } => view! {
            <p>"You already have an account with this email: log in, and you will come back here to join."</p>
            <p><a class="button" href=format!("/login?next={next}")>"Log in to accept"</a></p>
        }
        .into_any(),
        Invitee::SignedOut { has_account: false } => {
            view! { <RegisterForm token email=page.email.clone()/> }.into_any()
        }
    };
    view! {
        <h1>{heading}</h1>
        <p data-testid="invitation-intro">{intro}</p>
        {body}
    }
    .into_any()
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[component]
fn AcceptForm(token: String) -> impl IntoView {
    let accept = ServerAction::<AcceptInvitation>::new();
    let error = action_error(accept);
    view! {
        <ActionForm action=accept>
            <FormError error fields=&[]/>
            <input type="hidden" name="token" value=token/>
            <button type="submit" data-testid="accept-invitation" disabled=move || accept.pending().get()>
                {move || if accept.pending().get() { "Joining…" } else { "Join the organization" }}
            </button>
        </ActionForm>
    }
}

/// Registration from the link: the same rules as /register; the email is the
/// invitation's and cannot be changed here.
#[component]
fn RegisterForm(token: String, email: String) -> impl IntoView {
    let register = ServerAction::<RegisterFromInvitation>::new();
    let error = action_error(register);
    view! {
        <p class="muted">"Create your account to join. You also get a personal organization of your own."</p>
        <ActionForm action=register>
            <FormError error fields=&["name", "password"]/>
            <input type="hidden" name="token" value=token/>
            <label for="email">"Email"</label>
            <input id="email" type="email" value=email readonly aria-describedby="email-hint"/>
            <p class="hint" id="email-hint">"The invitation is for this address."</p>
            <label for="name">"Your name"</label>
            <input id="name" name="name" type="text" autocomplete="name" maxlength="100" required/>
            <FieldError error field="name"/>
            <label for="password">"Password"</label>
            <input id="password" name="password" type="password" autocomplete="new-password"
                minlength="8" maxlength="128" required aria-describedby="password-hint"/>
            <p class="hint" id="password-hint">"8 to 128 characters; common passwords are refused."</p>
            <FieldError error field="password"/>
            <button type="submit" data-testid="register-from-invitation" disabled=move || register.pending().get()>
                {move || if register.pending().get() { "Creating your account…" } else { "Create account and join" }}
            </button>
        </ActionForm>
    }
}
