//! The object types Sluice stores, as the `object` names Stripe gives them.

pub const ACCOUNT: &str = "account";
pub const BANK_ACCOUNT: &str = "bank_account";
pub const CAPABILITY: &str = "capability";
pub const CARD: &str = "card";
pub const CUSTOMER: &str = "customer";
pub const PERSON: &str = "person";

const ALL: &[&str] = &[ACCOUNT, BANK_ACCOUNT, CAPABILITY, CARD, CUSTOMER, PERSON];

/// The static name for a stored `object` column, so documents carry no per-row allocation for it.
pub fn intern(name: &str) -> &'static str {
    ALL.iter()
        .copied()
        .find(|known| *known == name)
        .unwrap_or("unknown")
}
