//! The mail Phonebooth writes: each message has a plain-text and an HTML
//! body, and every link in it is built from `PUBLIC_URL`
//! (`AppState::public_url`). Queued with `db::outbox::queue`.

use super::html;

/// A message ready to queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Composed {
    pub fn to<'a>(&'a self, to_address: &'a str) -> super::db::outbox::NewMail<'a> {
        super::db::outbox::NewMail {
            to_address,
            subject: &self.subject,
            text_body: &self.text,
            html_body: Some(&self.html),
        }
    }
}

/// `path` (starting with `/`) on this deployment's public address.
pub fn link(public_url: &str, path: &str) -> String {
    format!("{}{path}", public_url.trim_end_matches('/'))
}

/// The password reset mail: the link, how long it works, and what to do if
/// the reset was not asked for.
pub fn password_reset(name: &str, link: &str, valid_minutes: i64) -> Composed {
    let text = format!(
        "Hello {name},\n\n\
         Someone (hopefully you) asked to reset the password of your Phonebooth account.\n\
         Choose a new password here:\n\n{link}\n\n\
         The link works once, for {valid_minutes} minutes. Setting a new password signs \
         you out everywhere.\n\n\
         If you did not ask for this, ignore this mail: your password stays as it is.\n"
    );
    let html = format!(
        "<!doctype html><html><body style=\"font-family: sans-serif\">\
         <p>Hello {name},</p>\
         <p>Someone (hopefully you) asked to reset the password of your Phonebooth account.</p>\
         <p><a href=\"{href}\">Choose a new password</a></p>\
         <p>The link works once, for {valid_minutes} minutes. Setting a new password signs \
         you out everywhere.</p>\
         <p>If you did not ask for this, ignore this mail: your password stays as it is.</p>\
         </body></html>",
        name = html::escape(name),
        href = html::escape(link),
    );
    Composed {
        subject: "Reset your Phonebooth password".to_owned(),
        text,
        html,
    }
}

/// The invitation mail: who invites to which organization as what, the
/// link, and how long it works.
pub fn invitation(
    inviter: &str,
    org_name: &str,
    role: &str,
    link: &str,
    valid_days: i64,
) -> Composed {
    let text = format!(
        "Hello,\n\n\
         {inviter} invites you to join {org_name} on Phonebooth as {role}.\n\
         Accept the invitation here (you can create an account on the way):\n\n{link}\n\n\
         The link works once, for {valid_days} days.\n\n\
         If you did not expect this, ignore this mail.\n"
    );
    let html = format!(
        "<!doctype html><html><body style=\"font-family: sans-serif\">\
         <p>Hello,</p>\
         <p>{inviter} invites you to join <strong>{org_name}</strong> on Phonebooth as {role}.</p>\
         <p><a href=\"{href}\">Accept the invitation</a></p>\
         <p>The link works once, for {valid_days} days. You can create an account on the way.</p>\
         <p>If you did not expect this, ignore this mail.</p>\
         </body></html>",
        inviter = html::escape(inviter),
        org_name = html::escape(org_name),
        role = html::escape(role),
        href = html::escape(link),
    );
    Composed {
        subject: format!("{inviter} invites you to {org_name} on Phonebooth"),
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_built_from_the_public_url() {
        assert_eq!(
            link("https://calls.example.com/", "/reset-password?token=abc"),
            "https://calls.example.com/reset-password?token=abc"
        );
    }

    #[test]
    fn the_invitation_mail_has_both_bodies_and_escapes_names() {
        let mail = invitation(
            "Ann <boss>",
            "A&B",
            "admin",
            "https://x.example/invite/t",
            7,
        );
        assert!(mail.text.contains("https://x.example/invite/t"));
        assert!(mail.text.contains("7 days"));
        assert!(mail.html.contains("Ann &lt;boss&gt;"));
        assert!(mail.html.contains("A&amp;B"));
        assert!(mail.html.contains("href=\"https://x.example/invite/t\""));
    }

    #[test]
    fn the_reset_mail_has_both_bodies_and_escapes_the_name() {
        let mail = password_reset("<Ann & Bo>", "https://x.example/reset-password?token=t", 30);
        assert!(mail
            .text
            .contains("https://x.example/reset-password?token=t"));
        assert!(mail.text.contains("<Ann & Bo>"));
        assert!(mail.html.contains("&lt;Ann &amp; Bo&gt;"));
        assert!(mail
            .html
            .contains("href=\"https://x.example/reset-password?token=t\""));
        assert!(mail.text.contains("30 minutes"));
    }
}
