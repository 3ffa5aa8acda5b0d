//! Which carrier places calls: the built-in simulated one, or Twilio. The
//! dialer reads it (`api::calls::DialerSetup::carrier_mode`): in Twilio mode
//! the browser starts each call itself with the Voice SDK, using the one-shot
//! attempt `start_call` returns; in the simulated mode the simulated carrier
//! plays the browser's part and no attempt is handed out.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CarrierMode {
    Simulated,
    Twilio,
}

impl CarrierMode {
    /// `simulated` or `twilio`, as the startup log and `/settings` say it.
    pub fn as_str(self) -> &'static str {
        match self {
            CarrierMode::Simulated => "simulated",
            CarrierMode::Twilio => "twilio",
        }
    }
}
