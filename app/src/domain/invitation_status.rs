//! An invitation's status as shown to owners and admins: its own state
//! (revoked, accepted, expired) first, then what happened to the mail that
//! carried its current link (pending while queued, sent, failed).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatus {
    Pending,
    Sent,
    Failed,
    Accepted,
    Expired,
    Revoked,
}

impl InvitationStatus {
    /// `mail_status` is the outbox status of the latest mail (queued, sent, failed).
    pub fn of(
        revoked: bool,
        accepted: bool,
        expires_at: i64,
        now: i64,
        mail_status: Option<&str>,
    ) -> Self {
        if revoked {
            InvitationStatus::Revoked
        } else if accepted {
            InvitationStatus::Accepted
        } else if expires_at <= now {
            InvitationStatus::Expired
        } else {
            match mail_status {
                Some("sent") => InvitationStatus::Sent,
                Some("failed") => InvitationStatus::Failed,
                _ => InvitationStatus::Pending,
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Sent => "sent",
            InvitationStatus::Failed => "failed",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Expired => "expired",
            InvitationStatus::Revoked => "revoked",
        }
    }

    /// Still waiting for the invitee: the link works (and the seat is taken).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            InvitationStatus::Pending | InvitationStatus::Sent | InvitationStatus::Failed
        )
    }

    /// Resending makes sense until it is accepted or revoked.
    pub fn can_resend(self) -> bool {
        !matches!(self, InvitationStatus::Accepted | InvitationStatus::Revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::InvitationStatus::*;
    use super::*;

    #[test]
    fn the_invitations_own_state_wins_over_its_mail() {
        assert_eq!(
            InvitationStatus::of(true, false, 100, 0, Some("sent")),
            Revoked
        );
        assert_eq!(
            InvitationStatus::of(false, true, 0, 100, Some("failed")),
            Accepted
        );
        assert_eq!(
            InvitationStatus::of(false, false, 100, 100, Some("sent")),
            Expired
        );
        assert_eq!(
            InvitationStatus::of(false, false, 101, 100, Some("queued")),
            Pending
        );
        assert_eq!(InvitationStatus::of(false, false, 101, 100, None), Pending);
        assert_eq!(
            InvitationStatus::of(false, false, 101, 100, Some("sent")),
            Sent
        );
        assert_eq!(
            InvitationStatus::of(false, false, 101, 100, Some("failed")),
            Failed
        );
        assert!(Failed.is_open() && !Expired.is_open());
        assert!(Expired.can_resend() && !Revoked.can_resend());
    }
}
