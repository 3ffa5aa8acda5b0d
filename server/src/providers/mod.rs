//! The real external providers behind the traits the app defines
//! (`app::server::payments::PaymentProvider`). The built-in sandbox payment
//! provider lives in `app::server::sandbox`, beside the checkout page it serves.

pub mod stripe;
pub mod twilio;
