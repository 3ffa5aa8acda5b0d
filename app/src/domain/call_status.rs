//! A call's states and the one rule that moves them (the whole life of a call
//! is told in docs/architecture.md, "Calls"):
//!
//! ```text
//! queued -> initiated -> ringing -> in-progress -> completed
//!    \          \            \-> busy | no-answer | failed | canceled
//!     \-> failed (provider refused)
//! ```
//!
//! Carrier events can arrive twice, late or out of order. They are ordered by
//! the carrier's sequence number; the state only moves forward; a terminal
//! state is final. `decide` is the whole rule, pure, so it is tested over
//! every order of every event sequence.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CallStatus {
    Queued,
    Initiated,
    Ringing,
    InProgress,
    Completed,
    Busy,
    NoAnswer,
    Failed,
    Canceled,
}

impl CallStatus {
    pub const ALL: [CallStatus; 9] = [
        CallStatus::Queued,
        CallStatus::Initiated,
        CallStatus::Ringing,
        CallStatus::InProgress,
        CallStatus::Completed,
        CallStatus::Busy,
        CallStatus::NoAnswer,
        CallStatus::Failed,
        CallStatus::Canceled,
    ];

    /// Twilio's `CallStatus` spelling, also the database's.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Queued => "queued",
            CallStatus::Initiated => "initiated",
            CallStatus::Ringing => "ringing",
            CallStatus::InProgress => "in-progress",
            CallStatus::Completed => "completed",
            CallStatus::Busy => "busy",
            CallStatus::NoAnswer => "no-answer",
            CallStatus::Failed => "failed",
            CallStatus::Canceled => "canceled",
        }
    }

    pub fn parse(raw: &str) -> Option<CallStatus> {
        CallStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// What people read.
    pub fn label(self) -> &'static str {
        match self {
            CallStatus::Queued => "Connecting",
            CallStatus::Initiated => "Connecting",
            CallStatus::Ringing => "Ringing",
            CallStatus::InProgress => "In progress",
            CallStatus::Completed => "Completed",
            CallStatus::Busy => "Busy",
            CallStatus::NoAnswer => "No answer",
            CallStatus::Failed => "Failed",
            CallStatus::Canceled => "Canceled",
        }
    }

    pub fn is_terminal(self) -> bool {
        self.rank() == TERMINAL_RANK
    }

    /// Not yet answered and not ended: ending it means canceling it.
    pub fn is_connecting(self) -> bool {
        matches!(
            self,
            CallStatus::Queued | CallStatus::Initiated | CallStatus::Ringing
        )
    }

    /// Position along the diagram; all terminal states share the last rank.
    fn rank(self) -> u8 {
        match self {
            CallStatus::Queued => 0,
            CallStatus::Initiated => 1,
            CallStatus::Ringing => 2,
            CallStatus::InProgress => 3,
            _ => TERMINAL_RANK,
        }
    }
}

const TERMINAL_RANK: u8 = 4;

/// What to do with an incoming carrier event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Move to the event's state.
    Apply,
    /// The same state again (a redelivery): record, change nothing.
    Duplicate,
    /// Older than what is known, or backwards, or after the end: record, change nothing.
    Stale,
}

/// The rule. `current_sequence` is the sequence number of the last applied
/// event (-1 before any). A terminal event is applied from any live state even
/// when its number is lower than one already seen: carriers number events per
/// callback URL, and ending is never wrong to learn. Nothing moves a call out
/// of a terminal state, and a live state never moves backwards.
pub fn decide(
    current: CallStatus,
    current_sequence: i64,
    incoming: CallStatus,
    incoming_sequence: i64,
) -> Decision {
    if incoming == current {
        return Decision::Duplicate;
    }
    if current.is_terminal() {
        return Decision::Stale;
    }
    if incoming.is_terminal() {
        return Decision::Apply;
    }
    if incoming.rank() > current.rank() && incoming_sequence > current_sequence {
        Decision::Apply
    } else {
        Decision::Stale
    }
}

/// Why a call ended, as stored (`call.end_reason`) and shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndReason {
    /// The member pressed End on an answered call.
    HungUp,
    /// The other side hung up (or the carrier ended it without a request from us).
    Completed,
    /// The forced hangup: the balance paid for no more.
    CreditsExhausted,
    Busy,
    NoAnswer,
    /// The member ended it before it was answered.
    Canceled,
    Failed,
    /// The carrier would not place it.
    CarrierRefused,
    /// An owner or admin removed the member from the organization mid-call.
    RemovedFromOrg,
    /// The member left the organization mid-call.
    LeftOrg,
}

impl EndReason {
    pub const ALL: [EndReason; 10] = [
        EndReason::HungUp,
        EndReason::Completed,
        EndReason::CreditsExhausted,
        EndReason::Busy,
        EndReason::NoAnswer,
        EndReason::Canceled,
        EndReason::Failed,
        EndReason::CarrierRefused,
        EndReason::RemovedFromOrg,
        EndReason::LeftOrg,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::HungUp => "hung_up",
            EndReason::Completed => "completed",
            EndReason::CreditsExhausted => "credits_exhausted",
            EndReason::Busy => "busy",
            EndReason::NoAnswer => "no_answer",
            EndReason::Canceled => "canceled",
            EndReason::Failed => "failed",
            EndReason::CarrierRefused => "carrier_refused",
            EndReason::RemovedFromOrg => "removed_from_org",
            EndReason::LeftOrg => "left_org",
        }
    }

    pub fn parse(raw: &str) -> Option<EndReason> {
        EndReason::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    pub fn label(self) -> &'static str {
        match self {
            EndReason::HungUp => "You hung up",
            EndReason::Completed => "The other side hung up",
            EndReason::CreditsExhausted => "Cut off: credits used up",
            EndReason::Busy => "The line was busy",
            EndReason::NoAnswer => "Nobody answered",
            EndReason::Canceled => "Canceled before it was answered",
            EndReason::Failed => "The call could not be connected",
            EndReason::CarrierRefused => "The carrier refused the call",
            EndReason::RemovedFromOrg => "Ended: removed from the organization",
            EndReason::LeftOrg => "Ended: left the organization",
        }
    }

    /// The reason a terminal status gives when nobody asked for the end.
    pub fn of_terminal(status: CallStatus) -> EndReason {
        match status {
            CallStatus::Busy => EndReason::Busy,
            CallStatus::NoAnswer => EndReason::NoAnswer,
            CallStatus::Failed => EndReason::Failed,
            CallStatus::Canceled => EndReason::Canceled,
            _ => EndReason::Completed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CallStatus::*;
    use super::*;
    use itertools::Itertools;

    #[test]
    fn names_round_trip() {
        for status in CallStatus::ALL {
            assert_eq!(CallStatus::parse(status.as_str()), Some(status));
        }
        for reason in EndReason::ALL {
            assert_eq!(EndReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(CallStatus::parse("answered"), None);
    }

    #[test]
    fn forward_moves_apply() {
        assert_eq!(decide(Queued, -1, Initiated, 0), Decision::Apply);
        assert_eq!(decide(Initiated, 0, Ringing, 1), Decision::Apply);
        assert_eq!(decide(Ringing, 1, InProgress, 2), Decision::Apply);
        assert_eq!(decide(InProgress, 2, Completed, 3), Decision::Apply);
        // skipping states is fine: a callback can be lost
        assert_eq!(decide(Queued, -1, InProgress, 2), Decision::Apply);
        for end in [Busy, NoAnswer, Failed, Canceled] {
            assert_eq!(decide(Ringing, 1, end, 2), Decision::Apply);
        }
    }

    #[test]
    fn backwards_and_old_events_are_stale() {
        assert_eq!(decide(InProgress, 2, Ringing, 1), Decision::Stale);
        assert_eq!(decide(Ringing, 5, InProgress, 4), Decision::Stale);
        assert_eq!(decide(InProgress, 2, Initiated, 0), Decision::Stale);
    }

    #[test]
    fn terminal_states_are_final() {
        for end in [Completed, Busy, NoAnswer, Failed, Canceled] {
            for later in CallStatus::ALL {
                let expected = if later == end {
                    Decision::Duplicate
                } else {
                    Decision::Stale
                };
                assert_eq!(decide(end, 3, later, 9), expected, "{end:?} then {later:?}");
            }
        }
    }

    #[test]
    fn redelivery_is_a_duplicate() {
        assert_eq!(decide(Ringing, 1, Ringing, 1), Decision::Duplicate);
        assert_eq!(decide(Completed, 3, Completed, 3), Decision::Duplicate);
    }

    /// Applies events in the given order and returns the final state.
    fn replay(events: &[(CallStatus, i64)]) -> CallStatus {
        let (mut status, mut sequence) = (Queued, -1);
        for &(incoming, number) in events {
            if decide(status, sequence, incoming, number) == Decision::Apply {
                status = incoming;
                sequence = sequence.max(number);
            }
        }
        status
    }

    #[test]
    fn every_order_of_every_lifecycle_ends_in_the_same_state() {
        let lifecycles: [&[(CallStatus, i64)]; 4] = [
            &[
                (Initiated, 0),
                (Ringing, 1),
                (InProgress, 2),
                (Completed, 3),
            ],
            &[(Initiated, 0), (Ringing, 1), (Busy, 2)],
            &[(Initiated, 0), (Ringing, 1), (NoAnswer, 2)],
            &[(Initiated, 0), (Ringing, 1), (Canceled, 2)],
        ];
        for lifecycle in lifecycles {
            let last = lifecycle.last().unwrap().0;
            for order in lifecycle.iter().copied().permutations(lifecycle.len()) {
                // each event also delivered twice, the copy at the end
                let mut doubled = order.clone();
                doubled.extend(order.iter().copied());
                assert_eq!(replay(&order), last, "{order:?}");
                assert_eq!(replay(&doubled), last, "{doubled:?}");
            }
        }
    }
}
