//! Keeps the login audit trail bounded: once at startup and then hourly,
//! rows older than `app::server::throttle::AUDIT_RETENTION_SECS` (30 days)
//! are deleted. Every instance runs it; the deletes are idempotent.

use super::JobContext;
use app::server::{clock, throttle};
use std::time::Duration;

/// Often enough that the table never holds much more than the retention.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub async fn prune_forever(context: JobContext) {
    super::repeat_forever("login audit pruning", PRUNE_EVERY, || async {
        match throttle::prune(&context.app.db, clock::now()).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "old login audit rows removed"),
            Err(error) => tracing::warn!(%error, "login audit pruning failed"),
        }
    })
    .await;
}
