//! Who may do what to whom inside an organization: the whole rule, pure, so
//! it is tested here as tables and the server only asks it.
//!
//! - Owners may give anyone any role, invite any role and remove anyone.
//! - Admins manage members and admins, but cannot touch owners or make one.
//! - Members manage nobody.
//! - The last owner can neither be demoted, nor removed, nor leave.
//! - Only an owner transfers ownership, to another member of the organization.

use super::Role;

/// Why a change to the team is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Plain members manage nobody.
    NotAManager,
    /// An admin tried to change, remove or create an owner.
    OwnersOnly,
    /// The organization would be left without an owner.
    LastOwner,
    /// Removing yourself is leaving.
    UseLeave,
    /// Transferring ownership to someone who already is an owner.
    AlreadyOwner,
}

impl Refusal {
    /// A short stable code (the API's error code).
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotAManager => "not_a_manager",
            Refusal::OwnersOnly => "owners_only",
            Refusal::LastOwner => "last_owner",
            Refusal::UseLeave => "use_leave",
            Refusal::AlreadyOwner => "already_owner",
        }
    }

    /// What the person is told.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotAManager => "only owners and admins manage the organization's members",
            Refusal::OwnersOnly => "only an owner can change, remove or create an owner",
            Refusal::LastOwner => {
                "the organization's last owner cannot be demoted, removed or leave; make someone else an owner first"
            }
            Refusal::UseLeave => "to take yourself out of the organization, use \"Leave organization\"",
            Refusal::AlreadyOwner => "this member is already an owner",
        }
    }
}

/// `actor` invites someone as `role`.
pub fn may_invite(actor: Role, role: Role) -> Result<(), Refusal> {
    match (actor, role) {
        (Role::Member, _) => Err(Refusal::NotAManager),
        (Role::Admin, Role::Owner) => Err(Refusal::OwnersOnly),
        _ => Ok(()),
    }
}

/// `actor` manages invitations (resend, revoke, copy the link) of one made for `role`.
pub fn may_manage_invitation(actor: Role, role: Role) -> Result<(), Refusal> {
    may_invite(actor, role)
}

/// `actor` gives `target` (currently `from`) the role `to`; `owners` is how
/// many owners the organization has now. Changing your own role follows the
/// same rules.
pub fn may_change_role(actor: Role, from: Role, to: Role, owners: u32) -> Result<(), Refusal> {
    match actor {
        Role::Member => return Err(Refusal::NotAManager),
        Role::Admin if from == Role::Owner || to == Role::Owner => return Err(Refusal::OwnersOnly),
        _ => {}
    }
    if from == Role::Owner && to != Role::Owner && owners <= 1 {
        return Err(Refusal::LastOwner);
    }
    Ok(())
}

/// `actor` removes someone else whose role is `target`.
pub fn may_remove(actor: Role, target: Role, is_self: bool, owners: u32) -> Result<(), Refusal> {
    if is_self {
        return Err(Refusal::UseLeave);
    }
    match (actor, target) {
        (Role::Member, _) => Err(Refusal::NotAManager),
        (Role::Admin, Role::Owner) => Err(Refusal::OwnersOnly),
        (_, Role::Owner) if owners <= 1 => Err(Refusal::LastOwner),
        _ => Ok(()),
    }
}

/// A member with `role` leaves.
pub fn may_leave(role: Role, owners: u32) -> Result<(), Refusal> {
    if role == Role::Owner && owners <= 1 {
        Err(Refusal::LastOwner)
    } else {
        Ok(())
    }
}

/// `actor` makes `target` an owner and becomes an admin.
pub fn may_transfer_ownership(actor: Role, target: Role, is_self: bool) -> Result<(), Refusal> {
    match actor {
        Role::Owner if is_self || target == Role::Owner => Err(Refusal::AlreadyOwner),
        Role::Owner => Ok(()),
        Role::Admin => Err(Refusal::OwnersOnly),
        Role::Member => Err(Refusal::NotAManager),
    }
}

#[cfg(test)]
mod tests {
    use super::Refusal::*;
    use super::*;
    use Role::{Admin, Member, Owner};

    #[test]
    fn who_may_invite_whom() {
        let cases = [
            (Owner, Owner, Ok(())),
            (Owner, Admin, Ok(())),
            (Owner, Member, Ok(())),
            (Admin, Owner, Err(OwnersOnly)),
            (Admin, Admin, Ok(())),
            (Admin, Member, Ok(())),
            (Member, Owner, Err(NotAManager)),
            (Member, Admin, Err(NotAManager)),
            (Member, Member, Err(NotAManager)),
        ];
        for (actor, role, expected) in cases {
            assert_eq!(may_invite(actor, role), expected, "{actor} invites {role}");
        }
    }

    #[test]
    fn who_may_change_whom_to_what() {
        // (actor, from, to, owners) -> verdict
        let cases = [
            (Owner, Member, Admin, 1, Ok(())),
            (Owner, Member, Owner, 1, Ok(())),
            (Owner, Admin, Member, 1, Ok(())),
            (Owner, Admin, Owner, 1, Ok(())),
            (Owner, Owner, Admin, 2, Ok(())),
            (Owner, Owner, Member, 2, Ok(())),
            (Owner, Owner, Admin, 1, Err(LastOwner)),
            (Owner, Owner, Member, 1, Err(LastOwner)),
            (Owner, Owner, Owner, 1, Ok(())),
            (Admin, Member, Admin, 1, Ok(())),
            (Admin, Admin, Member, 1, Ok(())),
            (Admin, Member, Owner, 1, Err(OwnersOnly)),
            (Admin, Admin, Owner, 1, Err(OwnersOnly)),
            (Admin, Owner, Member, 2, Err(OwnersOnly)),
            (Admin, Owner, Admin, 2, Err(OwnersOnly)),
            (Member, Member, Admin, 1, Err(NotAManager)),
            (Member, Admin, Member, 1, Err(NotAManager)),
            (Member, Owner, Member, 2, Err(NotAManager)),
        ];
        for (actor, from, to, owners, expected) in cases {
            assert_eq!(
                may_change_role(actor, from, to, owners),
                expected,
                "{actor} changes {from} to {to} with {owners} owner(s)"
            );
        }
    }

    #[test]
    fn who_may_remove_whom() {
        // (actor, target, is_self, owners) -> verdict
        let cases = [
            (Owner, Member, false, 1, Ok(())),
            (Owner, Admin, false, 1, Ok(())),
            (Owner, Owner, false, 2, Ok(())),
            (Owner, Owner, false, 1, Err(LastOwner)),
            (Owner, Owner, true, 1, Err(UseLeave)),
            (Admin, Member, false, 1, Ok(())),
            (Admin, Admin, false, 1, Ok(())),
            (Admin, Owner, false, 2, Err(OwnersOnly)),
            (Admin, Admin, true, 1, Err(UseLeave)),
            (Member, Member, false, 1, Err(NotAManager)),
            (Member, Admin, false, 1, Err(NotAManager)),
            (Member, Owner, false, 2, Err(NotAManager)),
        ];
        for (actor, target, is_self, owners, expected) in cases {
            assert_eq!(
                may_remove(actor, target, is_self, owners),
                expected,
                "{actor} removes {target} (self: {is_self}) with {owners} owner(s)"
            );
        }
    }

    #[test]
    fn everyone_may_leave_but_the_last_owner() {
        assert_eq!(may_leave(Member, 1), Ok(()));
        assert_eq!(may_leave(Admin, 1), Ok(()));
        assert_eq!(may_leave(Owner, 2), Ok(()));
        assert_eq!(may_leave(Owner, 1), Err(LastOwner));
    }

    #[test]
    fn only_an_owner_transfers_ownership_to_someone_else() {
        let cases = [
            (Owner, Member, false, Ok(())),
            (Owner, Admin, false, Ok(())),
            (Owner, Owner, false, Err(AlreadyOwner)),
            (Owner, Owner, true, Err(AlreadyOwner)),
            (Admin, Member, false, Err(OwnersOnly)),
            (Member, Admin, false, Err(NotAManager)),
        ];
        for (actor, target, is_self, expected) in cases {
            assert_eq!(
                may_transfer_ownership(actor, target, is_self),
                expected,
                "{actor} transfers to {target}"
            );
        }
    }
}
