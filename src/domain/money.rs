//! Money: integer minor units with a currency. Never floats.

use super::{Error, Result};

/// Currencies Sluice settles, with their minimum charge in minor units (Stripe's table).
const CURRENCIES: &[(&str, i64)] = &[
    ("aud", 50),
    ("cad", 50),
    ("chf", 50),
    ("dkk", 250),
    ("eur", 50),
    ("gbp", 30),
    ("hkd", 400),
    ("jpy", 50),
    ("mxn", 1000),
    ("nok", 300),
    ("nzd", 50),
    ("pln", 200),
    ("sek", 300),
    ("sgd", 50),
    ("usd", 50),
];

/// Currencies whose amounts are whole units (no cents).
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// Stripe's largest amount for a single charge, in minor units.
pub const MAX_AMOUNT: i64 = 99_999_999;

/// A validated lowercase ISO 4217 code that Sluice settles.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Currency(String);

impl Currency {
    pub fn parse(text: &str, param: &str) -> Result<Currency> {
        let lower = text.to_ascii_lowercase();
        if CURRENCIES.iter().any(|(code, _)| *code == lower) {
            Ok(Currency(lower))
        } else {
            Err(Error::invalid_param(
                param,
                format!(
                    "Invalid currency: {text}. Sluice supports {}.",
                    CURRENCIES
                        .iter()
                        .map(|(c, _)| *c)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn minimum_charge(&self) -> i64 {
        CURRENCIES
            .iter()
            .find(|(code, _)| *code == self.0)
            .map(|(_, min)| *min)
            .unwrap_or(50)
    }

    pub fn zero_decimal(&self) -> bool {
        ZERO_DECIMAL.contains(&self.0.as_str())
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A charge amount: positive, at least the currency's minimum, at most `MAX_AMOUNT`.
pub fn check_charge_amount(amount: i64, currency: &Currency, param: &str) -> Result<()> {
    if amount < 1 {
        return Err(
            Error::invalid_param(param, "This value must be greater than or equal to 1.")
                .code("parameter_invalid_integer"),
        );
    }
    if amount < currency.minimum_charge() {
        return Err(Error::invalid_param(
            param,
            format!(
                "Amount must be at least {} {} minor units.",
                currency.minimum_charge(),
                currency
            ),
        )
        .code("amount_too_small"));
    }
    if amount > MAX_AMOUNT {
        return Err(Error::invalid_param(
            param,
            format!("Amount must be no more than {MAX_AMOUNT}."),
        )
        .code("amount_too_large"));
    }
    Ok(())
}

/// `amount * rate_ppm / 1_000_000`, rounded half up to the minor unit. The one rounding rule for
/// every percentage fee: 2.9% of 1234 is 35.786, which rounds to 36.
pub fn percent_of(amount: i64, rate_ppm: i64) -> i64 {
    let product = amount as i128 * rate_ppm as i128;
    let rounded = if product >= 0 {
        (product + 500_000) / 1_000_000
    } else {
        -((-product + 500_000) / 1_000_000)
    };
    rounded as i64
}

/// `part * numerator / denominator`, rounded half up: Stripe's proportional refunds of
/// application fees and transfers.
pub fn proportion(part: i64, numerator: i64, denominator: i64) -> i64 {
    if denominator == 0 {
        return 0;
    }
    let product = part as i128 * numerator as i128;
    let denominator = denominator as i128;
    ((product * 2 + denominator) / (denominator * 2)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_half_up() {
        assert_eq!(percent_of(1000, 29_000), 29);
        assert_eq!(percent_of(1234, 29_000), 36);
        assert_eq!(percent_of(2000, 29_000), 58);
        assert_eq!(percent_of(50, 10_000), 1); // 0.5 rounds up
        assert_eq!(percent_of(49, 10_000), 0);
    }

    #[test]
    fn proportions_round_half_up() {
        assert_eq!(proportion(123, 500, 1000), 62); // 61.5
        assert_eq!(proportion(123, 1000, 1000), 123);
        assert_eq!(proportion(100, 1, 3), 33);
    }

    #[test]
    fn currencies_and_minimums() {
        let usd = Currency::parse("USD", "currency").unwrap();
        assert_eq!(usd.as_str(), "usd");
        assert!(check_charge_amount(49, &usd, "amount").is_err());
        assert!(check_charge_amount(50, &usd, "amount").is_ok());
        assert!(Currency::parse("xyz", "currency").is_err());
    }
}
