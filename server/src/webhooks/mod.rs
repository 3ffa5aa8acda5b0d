//! Provider webhooks. They are exempt from the browser origin check and are
//! authenticated by signature instead; a bad or missing signature changes nothing.

pub mod stripe;
pub mod twilio;
