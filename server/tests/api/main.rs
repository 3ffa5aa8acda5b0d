//! API tests: the real application on port 0, spoken to over HTTP, each case
//! on SQLite and on PostgreSQL (see `common::on_both_databases!`).

mod common;

mod account;
mod accounts;
mod audit;
mod billing;
mod call_history;
mod call_rating;
mod call_restart;
mod calls;
mod faults;
mod graceful_stop;
mod http_limits;
mod isolation;
mod ledger;
mod mail;
mod migrations;
mod operations;
mod pages;
mod password_reset;
mod payment_recovery;
mod platform;
mod purchases;
mod rates;
mod recovery;
mod roles;
mod sandbox_billing;
mod sessions;
mod spending;
mod stripe_provider;
mod stripe_webhook;
mod subscriptions;
mod teams;
mod throttling;
mod twilio_provider;
mod twilio_voice;
mod wallet;
mod web_security;
