//! The sandbox's Billing Portal (`/sandbox/portal/<id>`,
//! `pages/sandbox_portal.rs`): what Stripe's hosted portal shows a customer
//! (their plan, invoices and card) and its one change, a new card. Like
//! Stripe's, the portal session's unguessable id is the capability.

use crate::server::clock;
use crate::server::db::sandbox_billing::{
    self as rows, Customer, Invoice, PortalSession, Subscription,
};
use crate::server::db::Db;
use crate::server::providers::sandbox::{
    card_last4, test_card, CardError, TestCard, PM_CHARGES_DECLINE, PM_SUCCEEDS,
};

/// Everything the portal page shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub portal: PortalSession,
    pub customer: Customer,
    /// Newest first.
    pub subscriptions: Vec<Subscription>,
    /// Newest first, across the customer's subscriptions.
    pub invoices: Vec<Invoice>,
}

pub async fn snapshot(db: &Db, portal_session_id: &str) -> Result<Option<Snapshot>, sqlx::Error> {
    let Some(portal) = rows::find_portal_session(&db.pool, portal_session_id).await? else {
        return Ok(None);
    };
    let Some(customer) = rows::find_customer(&db.pool, &portal.customer_id).await? else {
        return Ok(None);
    };
    let subscriptions = rows::subscriptions_of_customer(&db.pool, &customer.customer_id).await?;
    let invoices = rows::invoices_of_customer(&db.pool, &customer.customer_id).await?;
    Ok(Some(Snapshot {
        portal,
        customer,
        subscriptions,
        invoices,
    }))
}

/// The payment method a test card saves: Stripe's test payment methods.
/// A card declined outright is refused, as at checkout.
pub fn payment_method_of(card: TestCard) -> Result<&'static str, CardError> {
    match card {
        TestCard::Succeeds => Ok(PM_SUCCEEDS),
        TestCard::SavedThenDeclines => Ok(PM_CHARGES_DECLINE),
        TestCard::Declined => Err(CardError::Declined),
    }
}

/// Replaces the customer's card with the test card `number`. Later charges
/// (renewals, "pay now") use it; no event is sent, as the webhook needs none.
pub async fn change_card(db: &Db, portal_session_id: &str, number: &str) -> Result<(), CardError> {
    let fail = |error: sqlx::Error| {
        tracing::error!(error = ?error, "sandbox portal: database error");
        CardError::Unavailable
    };
    let payment_method = payment_method_of(test_card(number)?)?;
    let mut tx = db.begin_write().await.map_err(fail)?;
    let portal = rows::find_portal_session(&mut *tx, portal_session_id)
        .await
        .map_err(fail)?
        .ok_or(CardError::UnknownSession)?;
    let mut customer = rows::find_customer(&mut *tx, &portal.customer_id)
        .await
        .map_err(fail)?
        .ok_or(CardError::UnknownSession)?;
    customer.payment_method_id = payment_method.to_owned();
    customer.card_last4 = card_last4(number);
    rows::save_customer(&mut tx, &customer, clock::now())
        .await
        .map_err(fail)?;
    tx.commit().await.map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portal_saves_what_checkout_saves_and_refuses_the_declined_card() {
        assert_eq!(payment_method_of(TestCard::Succeeds), Ok("pm_card_visa"));
        assert_eq!(
            payment_method_of(TestCard::SavedThenDeclines),
            Ok("pm_card_chargeDeclined")
        );
        assert_eq!(
            payment_method_of(TestCard::Declined),
            Err(CardError::Declined)
        );
    }
}
