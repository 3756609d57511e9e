//! Stripe's test card catalogue: the card numbers, `pm_card_*` PaymentMethods and `tok_*` tokens
//! that Stripe documents for test mode, and what each one does when it is used.
//!
//! Source: Stripe's testing guide (docs.stripe.com/testing: cards by brand, declined payments,
//! fraud prevention, disputes, refunds, available balance, 3D Secure). Each entry is what the
//! guide says, and only what can be modelled: cards whose outcome depends on Radar settings
//! Sluice does not have (elevated risk, early fraud warnings) are left out.
//!
//! Numbers that are Luhn-valid but not listed behave as `Succeed` in test mode; Luhn-invalid
//! numbers are `incorrect_number` card errors (see `payment_methods`).

use serde_json::{Map, Value};

use super::{Error, ErrorKind};

/// What a card does when it is charged (and, for declines, when it is attached to a customer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// The payment succeeds; funds go to the pending balance.
    Succeed,
    /// The payment succeeds and its funds are available at once (bypassing pending).
    AvailableImmediately,
    /// The issuer declines: 402 `card_error` with this `code` (`card_declined`, `expired_card`,
    /// `incorrect_cvc`, `processing_error`), `decline_code` and `message`. Such cards can't be
    /// attached to a customer either (Stripe verifies the card when it is attached).
    Decline {
        code: &'static str,
        decline_code: Option<&'static str>,
        message: &'static str,
    },
    /// Attaching to a customer succeeds; charging it declines (`card_declined`,
    /// `generic_decline`).
    AttachOkChargeDeclines,
    /// Every payment requires 3D Secure authentication (`requires_action`).
    RequiresAuthentication,
    /// The payment succeeds, then is disputed with this `reason`; `inquiry` disputes start as
    /// an inquiry (`warning_needs_response`).
    Dispute { reason: &'static str, inquiry: bool },
    /// A refund starts `succeeded`, then fails asynchronously (`refund.failed`).
    RefundFailsLater,
    /// A refund starts `pending` (Stripe's guide: it succeeds some time later).
    RefundStaysPending,
    /// Radar always blocks the payment (risk level `highest`).
    BlockedAsFraud,
}

/// The outcome of one verification check when the value it checks was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    Pass,
    Fail,
    Unavailable,
}

impl Check {
    /// Stripe's word for the result (`checks.cvc_check` and the address checks).
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Pass => "pass",
            Check::Fail => "fail",
            Check::Unavailable => "unavailable",
        }
    }
}

/// What the CVC and address checks return for a card, when a CVC, a `line1` and a postal code
/// were provided (a value never given is never checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checks {
    pub cvc: Check,
    pub address_line1: Check,
    pub address_postal_code: Check,
}

const PASS: Checks = Checks {
    cvc: Check::Pass,
    address_line1: Check::Pass,
    address_postal_code: Check::Pass,
};

#[derive(Debug, PartialEq, Eq)]
pub struct TestCard {
    pub number: &'static str,
    /// The name after `pm_card_` / `tok_` (`"visa"` for `pm_card_visa` and `tok_visa`); empty
    /// when Stripe documents only the number.
    pub shortcut: &'static str,
    /// Other names Stripe documents for the same card (`chargeDeclined` for
    /// `tok_chargeDeclined`), accepted after either prefix.
    pub aliases: &'static [&'static str],
    /// Stripe's lowercase brand: visa, mastercard, amex, discover, diners, jcb, unionpay.
    pub brand: &'static str,
    /// credit, debit or prepaid.
    pub funding: &'static str,
    /// Two-letter issuing country.
    pub country: &'static str,
    pub behaviour: Behaviour,
    pub checks: Checks,
    /// `card.three_d_secure_usage.supported`.
    pub three_d_secure: bool,
}

const fn card(
    number: &'static str,
    shortcut: &'static str,
    brand: &'static str,
    funding: &'static str,
    country: &'static str,
    behaviour: Behaviour,
) -> TestCard {
    TestCard {
        number,
        shortcut,
        aliases: &[],
        brand,
        funding,
        country,
        behaviour,
        checks: PASS,
        three_d_secure: true,
    }
}

const fn visa(number: &'static str, shortcut: &'static str, behaviour: Behaviour) -> TestCard {
    card(number, shortcut, "visa", "credit", "US", behaviour)
}

const fn aliased(mut test_card: TestCard, aliases: &'static [&'static str]) -> TestCard {
    test_card.aliases = aliases;
    test_card
}

const fn checked(mut test_card: TestCard, checks: Checks) -> TestCard {
    test_card.checks = checks;
    test_card
}

const fn declined(
    code: &'static str,
    decline_code: Option<&'static str>,
    message: &'static str,
) -> Behaviour {
    Behaviour::Decline {
        code,
        decline_code,
        message,
    }
}

pub const MSG_DECLINED: &str = "Your card was declined.";
pub const MSG_INSUFFICIENT_FUNDS: &str = "Your card has insufficient funds.";
pub const MSG_EXPIRED: &str = "Your card has expired.";
pub const MSG_INCORRECT_CVC: &str = "Your card's security code is incorrect.";
pub const MSG_PROCESSING_ERROR: &str =
    "An error occurred while processing your card. Try again in a little bit.";
pub const MSG_VELOCITY: &str = "Your card was declined for making repeated attempts too frequently or exceeding its amount limit.";

use Behaviour::*;

/// Every card Stripe documents that Sluice models.
pub static CATALOGUE: &[TestCard] = &[
    // Cards by brand.
    visa("4242424242424242", "visa", Succeed),
    card(
        "4000056655665556",
        "visa_debit",
        "visa",
        "debit",
        "US",
        Succeed,
    ),
    card(
        "5555555555554444",
        "mastercard",
        "mastercard",
        "credit",
        "US",
        Succeed,
    ),
    card(
        "2223003122003222",
        "",
        "mastercard",
        "credit",
        "US",
        Succeed,
    ),
    card(
        "5200828282828210",
        "mastercard_debit",
        "mastercard",
        "debit",
        "US",
        Succeed,
    ),
    card(
        "5105105105105100",
        "mastercard_prepaid",
        "mastercard",
        "prepaid",
        "US",
        Succeed,
    ),
    // "3D Secure isn't supported on this card" (pm_card_amex_threeDSecureNotSupported).
    TestCard {
        three_d_secure: false,
        ..aliased(
            card("378282246310005", "amex", "amex", "credit", "US", Succeed),
            &["amex_threeDSecureNotSupported"],
        )
    },
    card("371449635398431", "", "amex", "credit", "US", Succeed),
    card(
        "6011111111111117",
        "discover",
        "discover",
        "credit",
        "US",
        Succeed,
    ),
    card("6011000990139424", "", "discover", "credit", "US", Succeed),
    card("6011981111111113", "", "discover", "debit", "US", Succeed),
    card(
        "3056930009020004",
        "diners",
        "diners",
        "credit",
        "US",
        Succeed,
    ),
    card("36227206271667", "", "diners", "credit", "US", Succeed),
    // "Cards where the issuer country isn't the US (such as JCB and UnionPay)".
    card("3566002020360505", "jcb", "jcb", "credit", "JP", Succeed),
    card(
        "6200000000000005",
        "unionpay",
        "unionpay",
        "credit",
        "CN",
        Succeed,
    ),
    card("6200000000000047", "", "unionpay", "debit", "CN", Succeed),
    card(
        "6205500000000000004",
        "",
        "unionpay",
        "credit",
        "CN",
        Succeed,
    ),
    // Declined payments. These can't be attached to a customer.
    aliased(
        visa(
            "4000000000000002",
            "visa_chargeDeclined",
            declined("card_declined", Some("generic_decline"), MSG_DECLINED),
        ),
        &["chargeDeclined"],
    ),
    aliased(
        visa(
            "4000000000009995",
            "visa_chargeDeclinedInsufficientFunds",
            declined(
                "card_declined",
                Some("insufficient_funds"),
                MSG_INSUFFICIENT_FUNDS,
            ),
        ),
        &["chargeDeclinedInsufficientFunds"],
    ),
    aliased(
        visa(
            "4000000000009987",
            "visa_chargeDeclinedLostCard",
            declined("card_declined", Some("lost_card"), MSG_DECLINED),
        ),
        &["chargeDeclinedLostCard"],
    ),
    aliased(
        visa(
            "4000000000009979",
            "visa_chargeDeclinedStolenCard",
            declined("card_declined", Some("stolen_card"), MSG_DECLINED),
        ),
        &["chargeDeclinedStolenCard"],
    ),
    aliased(
        visa(
            "4000000000000069",
            "chargeDeclinedExpiredCard",
            declined("expired_card", None, MSG_EXPIRED),
        ),
        &["visa_chargeDeclinedExpiredCard"],
    ),
    aliased(
        visa(
            "4000000000000127",
            "chargeDeclinedIncorrectCvc",
            declined("incorrect_cvc", None, MSG_INCORRECT_CVC),
        ),
        &["visa_chargeDeclinedIncorrectCvc"],
    ),
    aliased(
        visa(
            "4000000000000119",
            "chargeDeclinedProcessingError",
            declined("processing_error", None, MSG_PROCESSING_ERROR),
        ),
        &["visa_chargeDeclinedProcessingError"],
    ),
    aliased(
        visa(
            "4000000000006975",
            "visa_chargeDeclinedVelocityLimitExceeded",
            declined(
                "card_declined",
                Some("card_velocity_exceeded"),
                MSG_VELOCITY,
            ),
        ),
        &["chargeDeclinedVelocityLimitExceeded"],
    ),
    aliased(
        visa(
            "4000000000000341",
            "chargeCustomerFail",
            AttachOkChargeDeclines,
        ),
        &["visa_chargeCustomerFail"],
    ),
    // Fraud prevention.
    visa("4100000000000019", "radarBlock", BlockedAsFraud),
    checked(
        visa("4000000000000101", "cvcCheckFail", Succeed),
        Checks {
            cvc: Check::Fail,
            ..PASS
        },
    ),
    checked(
        visa("4000000000000036", "avsZipFail", Succeed),
        Checks {
            address_postal_code: Check::Fail,
            ..PASS
        },
    ),
    checked(
        visa("4000000000000028", "avsLine1Fail", Succeed),
        Checks {
            address_line1: Check::Fail,
            ..PASS
        },
    ),
    checked(
        visa("4000000000000010", "avsFail", Succeed),
        Checks {
            address_line1: Check::Fail,
            address_postal_code: Check::Fail,
            ..PASS
        },
    ),
    checked(
        visa("4000000000000044", "avsUnchecked", Succeed),
        Checks {
            address_line1: Check::Unavailable,
            address_postal_code: Check::Unavailable,
            ..PASS
        },
    ),
    // Disputes.
    visa(
        "4000000000000259",
        "createDispute",
        Dispute {
            reason: "fraudulent",
            inquiry: false,
        },
    ),
    visa(
        "4000000000002685",
        "createDisputeProductNotReceived",
        Dispute {
            reason: "product_not_received",
            inquiry: false,
        },
    ),
    visa(
        "4000000000001976",
        "createDisputeInquiry",
        Dispute {
            reason: "general",
            inquiry: true,
        },
    ),
    // Refunds.
    visa("4000000000007726", "pendingRefund", RefundStaysPending),
    visa("4000000000005126", "refundFail", RefundFailsLater),
    // Available balance.
    visa("4000000000000077", "bypassPending", AvailableImmediately),
    card(
        "4000003720000278",
        "bypassPendingInternational",
        "visa",
        "credit",
        "IE",
        AvailableImmediately,
    ),
    // 3D Secure. Whether a card was set up for off-session use is not modelled: the cards
    // that always need authentication for an unsaved card are listed.
    card(
        "4000002760003184",
        "authenticationRequired",
        "visa",
        "credit",
        "DE",
        RequiresAuthentication,
    ),
    card(
        "4000002500003155",
        "authenticationRequiredOnSetup",
        "visa",
        "credit",
        "FR",
        RequiresAuthentication,
    ),
    visa(
        "4000000000003220",
        "threeDSecure2Required",
        RequiresAuthentication,
    ),
    visa("4000000000003055", "threeDSecureOptional", Succeed),
];

pub fn by_number(number: &str) -> Option<&'static TestCard> {
    CATALOGUE.iter().find(|card| card.number == number)
}

/// The card behind a test PaymentMethod id or token: `pm_card_visa`, `tok_visa`,
/// `pm_card_visa_chargeDeclined`, `tok_chargeDeclined`...
pub fn by_shortcut(pm_or_tok: &str) -> Option<&'static TestCard> {
    let name = pm_or_tok
        .strip_prefix("pm_card_")
        .or_else(|| pm_or_tok.strip_prefix("tok_"))?;
    if name.is_empty() {
        return None;
    }
    CATALOGUE
        .iter()
        .find(|card| card.shortcut == name || card.aliases.contains(&name))
}

/// The Luhn (mod 10) check; false for anything but ASCII digits.
pub fn luhn_valid(number: &str) -> bool {
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = number
        .bytes()
        .rev()
        .enumerate()
        .map(|(index, digit)| {
            let value = u32::from(digit - b'0');
            if index % 2 == 1 {
                let doubled = value * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                value
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The leading `digits` digits as a number (0 when the number is shorter or not digits).
fn prefix(number: &str, digits: usize) -> u32 {
    number
        .get(..digits)
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// Stripe's brand for a card number: the catalogue's, else by IIN range; `unknown` otherwise.
pub fn brand_of(number: &str) -> &'static str {
    if let Some(card) = by_number(number) {
        return card.brand;
    }
    let two = prefix(number, 2);
    let three = prefix(number, 3);
    let four = prefix(number, 4);
    let six = prefix(number, 6);
    if number.starts_with('4') {
        "visa"
    } else if (51..=55).contains(&two) || (2221..=2720).contains(&four) {
        "mastercard"
    } else if two == 34 || two == 37 {
        "amex"
    } else if four == 6011 || (644..=649).contains(&three) || two == 65 {
        "discover"
    } else if (3528..=3589).contains(&four) {
        "jcb"
    } else if (300..=305).contains(&three) || two == 36 || two == 38 || two == 39 || four == 3095 {
        "diners"
    } else if two == 62 || two == 81 || (622126..=622925).contains(&six) {
        "unionpay"
    } else {
        "unknown"
    }
}

/// `card.display_brand`: the brand as Stripe names it for display.
pub fn display_brand(brand: &str) -> &'static str {
    match brand {
        "visa" => "visa",
        "mastercard" => "mastercard",
        "amex" => "american_express",
        "discover" => "discover",
        "diners" => "diners_club",
        "jcb" => "jcb",
        "unionpay" => "union_pay",
        _ => "other",
    }
}

/// A 402 `card_error` as Stripe shapes it.
pub fn card_error(
    code: &'static str,
    decline_code: Option<&'static str>,
    message: &str,
    param: Option<&str>,
) -> Error {
    let mut error = Error::new(ErrorKind::Card, message).code(code);
    if let Some(param) = param {
        error = error.param(param);
    }
    if let Some(decline_code) = decline_code {
        let mut extra = Map::new();
        extra.insert("decline_code".into(), Value::from(decline_code));
        error.extra = Some(Box::new(extra));
    }
    error
}

/// The card error a declining behaviour produces; `None` for every other behaviour.
pub fn decline_error(behaviour: Behaviour) -> Option<Error> {
    match behaviour {
        Decline {
            code,
            decline_code,
            message,
        } => Some(card_error(code, decline_code, message, None)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_number_passes_luhn_and_is_listed_once() {
        for card in CATALOGUE {
            assert!(luhn_valid(card.number), "{} fails Luhn", card.number);
            assert_eq!(
                CATALOGUE.iter().filter(|c| c.number == card.number).count(),
                1,
                "{} listed twice",
                card.number
            );
            assert_eq!(brand_of(card.number), card.brand, "{}", card.number);
            assert!(["credit", "debit", "prepaid"].contains(&card.funding));
            assert_eq!(card.country.len(), 2);
        }
    }

    #[test]
    fn shortcut_names_are_unique() {
        let mut names: Vec<&str> = CATALOGUE
            .iter()
            .flat_map(|card| std::iter::once(card.shortcut).chain(card.aliases.iter().copied()))
            .filter(|name| !name.is_empty())
            .collect();
        let total = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), total, "a shortcut names two cards");
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4242424242424242"));
        assert!(!luhn_valid("4242424242424241"));
        assert!(luhn_valid("378282246310005"));
        assert!(luhn_valid("6205500000000000004"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("4242 4242 4242 4242"));
        assert!(!luhn_valid("42424242424242x2"));
        assert!(luhn_valid("0"));
    }

    #[test]
    fn shortcuts_find_their_cards() {
        let number = |name: &str| by_shortcut(name).map(|card| card.number);
        assert_eq!(number("pm_card_visa"), Some("4242424242424242"));
        assert_eq!(number("tok_visa"), Some("4242424242424242"));
        assert_eq!(number("pm_card_visa_debit"), Some("4000056655665556"));
        assert_eq!(number("tok_mastercard_debit"), Some("5200828282828210"));
        assert_eq!(number("pm_card_amex"), Some("378282246310005"));
        assert_eq!(number("pm_card_unionpay"), Some("6200000000000005"));
        assert_eq!(
            number("pm_card_visa_chargeDeclined"),
            Some("4000000000000002")
        );
        assert_eq!(number("tok_chargeDeclined"), Some("4000000000000002"));
        assert_eq!(number("tok_visa_chargeDeclined"), Some("4000000000000002"));
        assert_eq!(number("pm_card_chargeDeclined"), Some("4000000000000002"));
        assert_eq!(
            number("pm_card_chargeCustomerFail"),
            Some("4000000000000341")
        );
        assert_eq!(number("tok_bypassPending"), Some("4000000000000077"));
        assert_eq!(
            number("pm_card_authenticationRequired"),
            Some("4000002760003184")
        );
        assert_eq!(number("pm_card_"), None);
        assert_eq!(number("pm_card_nope"), None);
        assert_eq!(number("visa"), None);
        assert_eq!(number("pm_1Abc"), None);
        assert_eq!(number("tok_"), None);
    }

    #[test]
    fn behaviours_follow_stripes_guide() {
        let behaviour = |number: &str| by_number(number).map(|card| card.behaviour);
        assert_eq!(behaviour("4242424242424242"), Some(Succeed));
        assert_eq!(behaviour("4000000000000077"), Some(AvailableImmediately));
        assert_eq!(
            behaviour("4000000000009995"),
            Some(Decline {
                code: "card_declined",
                decline_code: Some("insufficient_funds"),
                message: "Your card has insufficient funds."
            })
        );
        assert_eq!(
            behaviour("4000000000000069"),
            Some(Decline {
                code: "expired_card",
                decline_code: None,
                message: "Your card has expired."
            })
        );
        assert_eq!(
            behaviour("4000000000000119"),
            Some(Decline {
                code: "processing_error",
                decline_code: None,
                message: "An error occurred while processing your card. Try again in a little bit."
            })
        );
        assert_eq!(behaviour("4000000000000341"), Some(AttachOkChargeDeclines));
        assert_eq!(behaviour("4100000000000019"), Some(BlockedAsFraud));
        assert_eq!(
            behaviour("4000000000000259"),
            Some(Dispute {
                reason: "fraudulent",
                inquiry: false
            })
        );
        assert_eq!(
            behaviour("4000000000001976"),
            Some(Dispute {
                reason: "general",
                inquiry: true
            })
        );
        assert_eq!(behaviour("4000000000005126"), Some(RefundFailsLater));
        assert_eq!(behaviour("4000000000007726"), Some(RefundStaysPending));
        assert_eq!(behaviour("4000002760003184"), Some(RequiresAuthentication));
        assert_eq!(behaviour("4242424242424241"), None);
        assert_eq!(
            by_number("4000000000000101").unwrap().checks.cvc,
            Check::Fail
        );
        assert!(!by_number("378282246310005").unwrap().three_d_secure);
    }

    #[test]
    fn brands_by_iin() {
        assert_eq!(brand_of("4111111111111111"), "visa");
        assert_eq!(brand_of("5425233430109903"), "mastercard");
        assert_eq!(brand_of("2720990000000007"), "mastercard");
        assert_eq!(brand_of("374245455400126"), "amex");
        assert_eq!(brand_of("6011000400000000"), "discover");
        assert_eq!(brand_of("3530111333300000"), "jcb");
        assert_eq!(brand_of("30569309025904"), "diners");
        assert_eq!(brand_of("6250941006528599"), "unionpay");
        assert_eq!(brand_of("9999999999999995"), "unknown");
        assert_eq!(brand_of(""), "unknown");
        assert_eq!(brand_of("5"), "unknown");
        assert_eq!(display_brand("amex"), "american_express");
    }

    #[test]
    fn declines_become_card_errors() {
        let error = decline_error(by_number("4000000000000002").unwrap().behaviour).unwrap();
        assert_eq!(error.kind, ErrorKind::Card);
        assert_eq!(error.code, Some("card_declined"));
        assert_eq!(error.message, "Your card was declined.");
        assert_eq!(
            error.extra.as_ref().unwrap()["decline_code"],
            "generic_decline"
        );
        assert!(decline_error(Succeed).is_none());
    }
}
