//! Provider webhooks. They are exempt from the browser origin check and are
//! authenticated by signature instead; a bad or missing signature changes nothing.

pub mod stripe;
pub mod stripe_signature;
pub mod twilio;
pub mod twilio_form;
pub mod twilio_signature;
