//! How an erased (deleted) account is stored and shown. Deleting an account
//! keeps its row, because the ledger and the call history point at it, but
//! erases what identifies the person: the name becomes empty (a name a
//! person can never have: `PersonName` refuses it) and the email a unique
//! placeholder that can be neither registered nor mailed (`.invalid` is
//! reserved, and `EmailAddress` refuses a domain without a dot), so the
//! address is free to register again.

/// What is shown wherever an erased account's name would be.
pub const DELETED_USER: &str = "deleted user";

/// The email an erased account keeps: unique per account, never a mailbox.
pub fn erased_email(user_id: &str) -> String {
    format!("deleted-{user_id}@invalid")
}

/// Whether a stored name is an erased account's.
pub fn is_erased_name(name: &str) -> bool {
    name.is_empty()
}

/// The name to show for a stored name: "deleted user" for an erased account.
pub fn shown_name(name: String) -> String {
    if is_erased_name(&name) {
        DELETED_USER.to_owned()
    } else {
        name
    }
}

/// The email to show for a stored one: nothing for an erased account.
pub fn shown_email(email: String) -> String {
    if email.starts_with("deleted-") && email.ends_with("@invalid") {
        String::new()
    } else {
        email
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EmailAddress, PersonName};

    #[test]
    fn an_erased_account_reads_as_deleted_user_and_keeps_no_mailbox() {
        let email = erased_email("usr_123");
        assert_eq!(email, "deleted-usr_123@invalid");
        assert!(
            EmailAddress::parse(&email).is_err(),
            "nobody can register it"
        );
        assert!(PersonName::parse("").is_err(), "nobody can be named so");
        assert_eq!(shown_name(String::new()), "deleted user");
        assert_eq!(shown_name("Ada".into()), "Ada");
        assert_eq!(shown_email(email), "");
        assert_eq!(shown_email("ada@example.com".into()), "ada@example.com");
    }
}
