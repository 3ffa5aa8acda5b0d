//! API tests: the real application on port 0, spoken to over HTTP, each case
//! on SQLite and on PostgreSQL (see `common::on_both_databases!`).

mod common;

mod accounts;
mod call_history;
mod call_restart;
mod calls;
mod faults;
mod isolation;
mod ledger;
mod migrations;
mod operations;
mod pages;
mod purchases;
mod rates;
mod stripe_provider;
mod stripe_webhook;
mod twilio_provider;
mod wallet;
mod web_security;
