//! The operator's price list: what processing a payment, a dispute or an instant payout costs.
//! Loaded from a JSON file (`--pricing FILE`) or the defaults, which are Stripe's US list prices.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::money::percent_of;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pricing {
    /// Card processing: parts per million of the amount (29000 = 2.9%)...
    pub card_rate_ppm: i64,
    /// ...plus this fixed fee in minor units, per currency (`default` for the rest).
    pub card_fixed: BTreeMap<String, i64>,
    /// Charged to the owner of a disputed charge, returned when the dispute is won.
    pub dispute_fee: BTreeMap<String, i64>,
    /// Instant payouts: parts per million, with a minimum in minor units.
    pub instant_payout_rate_ppm: i64,
    pub instant_payout_minimum: i64,
    /// Connect, where the platform pays the fees: per account paid out in a calendar month...
    pub connect_active_account_monthly: BTreeMap<String, i64>,
    /// ...and per payout sent to an account: parts per million of it plus a fixed fee.
    pub connect_payout_rate_ppm: i64,
    pub connect_payout_fixed: BTreeMap<String, i64>,
    /// Days before card funds become available, per country (`default` for the rest).
    pub availability_delay_days: BTreeMap<String, i64>,
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing {
            card_rate_ppm: 29_000,
            card_fixed: BTreeMap::from([("default".to_string(), 30)]),
            dispute_fee: BTreeMap::from([("default".to_string(), 1500)]),
            instant_payout_rate_ppm: 15_000,
            instant_payout_minimum: 50,
            connect_active_account_monthly: BTreeMap::from([("default".to_string(), 200)]),
            connect_payout_rate_ppm: 2_500,
            connect_payout_fixed: BTreeMap::from([("default".to_string(), 25)]),
            availability_delay_days: BTreeMap::from([("default".to_string(), 2)]),
        }
    }
}

fn per_currency(table: &BTreeMap<String, i64>, currency: &str) -> i64 {
    table
        .get(currency)
        .or_else(|| table.get("default"))
        .copied()
        .unwrap_or(0)
}

impl Pricing {
    pub fn load(path: &std::path::Path) -> anyhow::Result<Pricing> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the pricing file {}: {e}", path.display()))?;
        let pricing: Pricing = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!("the pricing file {} is not valid: {e}", path.display())
        })?;
        let negative = pricing.card_rate_ppm < 0
            || pricing.instant_payout_rate_ppm < 0
            || pricing.connect_payout_rate_ppm < 0
            || pricing
                .availability_delay_days
                .values()
                .any(|days| !(0..=90).contains(days));
        if negative {
            anyhow::bail!("the pricing file {} has a negative rate or an availability delay outside 0-90 days", path.display());
        }
        Ok(pricing)
    }

    /// The processing fee of a card payment of `amount` minor units.
    pub fn card_fee(&self, amount: i64, currency: &str) -> i64 {
        percent_of(amount, self.card_rate_ppm) + per_currency(&self.card_fixed, currency)
    }

    pub fn dispute_fee(&self, currency: &str) -> i64 {
        per_currency(&self.dispute_fee, currency)
    }

    /// What the platform pays per payout to an account whose fees it pays.
    pub fn connect_payout_fee(&self, amount: i64, currency: &str) -> i64 {
        percent_of(amount, self.connect_payout_rate_ppm)
            + per_currency(&self.connect_payout_fixed, currency)
    }

    pub fn connect_active_account_fee(&self, currency: &str) -> i64 {
        per_currency(&self.connect_active_account_monthly, currency)
    }

    /// Days before card funds of an account in `country` become available.
    pub fn availability_delay_days(&self, country: &str) -> i64 {
        per_currency(&self.availability_delay_days, country)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_card_fee_is_2_9_percent_plus_30() {
        let pricing = Pricing::default();
        assert_eq!(pricing.card_fee(1000, "usd"), 59);
        assert_eq!(pricing.card_fee(1234, "usd"), 66);
        assert_eq!(pricing.card_fee(2000, "eur"), 88);
    }

    #[test]
    fn connect_pricing_defaults_are_stripes_published_ones() {
        let pricing = Pricing::default();
        assert_eq!(pricing.connect_payout_fee(10_000, "usd"), 25 + 25);
        assert_eq!(pricing.connect_payout_fee(1_000, "usd"), 3 + 25);
        assert_eq!(pricing.connect_active_account_fee("usd"), 200);
        assert_eq!(pricing.availability_delay_days("US"), 2);
    }
}
