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
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing {
            card_rate_ppm: 29_000,
            card_fixed: BTreeMap::from([("default".to_string(), 30)]),
            dispute_fee: BTreeMap::from([("default".to_string(), 1500)]),
            instant_payout_rate_ppm: 15_000,
            instant_payout_minimum: 50,
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
        if pricing.card_rate_ppm < 0 || pricing.instant_payout_rate_ppm < 0 {
            anyhow::bail!("the pricing file {} has a negative rate", path.display());
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
}
