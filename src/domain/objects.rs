//! The object types Sluice stores, as the `object` names Stripe gives them.

pub const ACCOUNT: &str = "account";
pub const APPLICATION_FEE: &str = "application_fee";
pub const BALANCE_TRANSACTION: &str = "balance_transaction";
pub const BANK_ACCOUNT: &str = "bank_account";
pub const CAPABILITY: &str = "capability";
pub const CARD: &str = "card";
pub const CHARGE: &str = "charge";
pub const CUSTOMER: &str = "customer";
pub const DISPUTE: &str = "dispute";
pub const EVENT: &str = "event";
/// Events' ids start `evt_`; nothing else does, so an id range picks out events.
pub const EVENT_ID_PREFIX: &str = "evt";
pub const FEE_REFUND: &str = "fee_refund";
pub const PAYMENT_INTENT: &str = "payment_intent";
pub const PAYMENT_METHOD: &str = "payment_method";
pub const PAYOUT: &str = "payout";
pub const PERSON: &str = "person";
pub const REFUND: &str = "refund";
pub const TRANSFER: &str = "transfer";
pub const TRANSFER_REVERSAL: &str = "transfer_reversal";
/// Sluice's own record of a platform's clock, never shown.
pub const CLOCK: &str = "sluice_clock";
pub const WEBHOOK_ENDPOINT: &str = "webhook_endpoint";

const ALL: &[&str] = &[
    ACCOUNT,
    APPLICATION_FEE,
    BALANCE_TRANSACTION,
    BANK_ACCOUNT,
    CAPABILITY,
    CARD,
    CHARGE,
    CUSTOMER,
    DISPUTE,
    EVENT,
    FEE_REFUND,
    PAYMENT_INTENT,
    PAYMENT_METHOD,
    PAYOUT,
    PERSON,
    REFUND,
    TRANSFER,
    TRANSFER_REVERSAL,
    CLOCK,
    WEBHOOK_ENDPOINT,
];

/// The static name for a stored `object` column, so documents carry no per-row allocation for it.
pub fn intern(name: &str) -> &'static str {
    ALL.iter()
        .copied()
        .find(|known| *known == name)
        .unwrap_or("unknown")
}
