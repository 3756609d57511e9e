//! The one list of what `sluice <resource> <operation>` can call: each resource's operations with
//! their method and path template. `{name}` in a path is a positional argument, in order, as in
//! the Stripe CLI (`sluice persons create acct_123`).

use super::http::Method;

/// A command-line flag that becomes one request parameter (`--webhook-endpoint we_1` ->
/// `webhook_endpoint=we_1`), for operations whose key parameter deserves a named flag.
pub struct FlagParam {
    pub flag: &'static str,
    pub param: &'static str,
    pub help: &'static str,
}

pub struct Operation {
    pub name: &'static str,
    pub method: Method,
    pub path: &'static str,
    /// Called instead of `path` when no positional argument is given (`accounts retrieve` alone
    /// reads the caller's own account, as the Stripe CLI does).
    pub bare_path: Option<&'static str>,
    pub about: &'static str,
    pub flags: &'static [FlagParam],
}

pub struct Resource {
    pub name: &'static str,
    pub about: &'static str,
    pub operations: &'static [Operation],
}

const fn op(
    name: &'static str,
    method: Method,
    path: &'static str,
    about: &'static str,
) -> Operation {
    Operation {
        name,
        method,
        path,
        bare_path: None,
        about,
        flags: &[],
    }
}

use Method::{Delete, Get, Post};

const RESEND_FLAGS: &[FlagParam] = &[FlagParam {
    flag: "webhook-endpoint",
    param: "webhook_endpoint",
    help: "The webhook endpoint (we_...) to deliver the event to again",
}];

#[rustfmt::skip]
pub static RESOURCES: &[Resource] = &[
    Resource {
        name: "account_links",
        about: "Links to hosted onboarding for a connected account",
        operations: &[
            op("create", Post, "/v1/account_links", "Create an account link"),
        ],
    },
    Resource {
        name: "account_sessions",
        about: "Sessions for embedded onboarding and dashboard components",
        operations: &[
            op("create", Post, "/v1/account_sessions", "Create an account session"),
        ],
    },
    Resource {
        name: "accounts",
        about: "Connected accounts (and the platform's own account)",
        operations: &[
            op("create", Post, "/v1/accounts", "Create a connected account"),
            Operation {
                bare_path: Some("/v1/account"),
                ..op("retrieve", Get, "/v1/accounts/{account}", "Retrieve an account (without an id: your own account)")
            },
            op("update", Post, "/v1/accounts/{account}", "Update a connected account"),
            op("list", Get, "/v1/accounts", "List connected accounts"),
            op("delete", Delete, "/v1/accounts/{account}", "Delete a connected account"),
            op("reject", Post, "/v1/accounts/{account}/reject", "Reject a connected account"),
        ],
    },
    Resource {
        name: "login_links",
        about: "Single-use links to an Express account's dashboard",
        operations: &[
            op("create", Post, "/v1/accounts/{account}/login_links", "Create a login link"),
        ],
    },
    Resource {
        name: "capabilities",
        about: "Capabilities of a connected account (card_payments, transfers, ...)",
        operations: &[
            op("list", Get, "/v1/accounts/{account}/capabilities", "List an account's capabilities"),
            op("retrieve", Get, "/v1/accounts/{account}/capabilities/{capability}", "Retrieve a capability"),
            op("update", Post, "/v1/accounts/{account}/capabilities/{capability}", "Request or unrequest a capability"),
        ],
    },
    Resource {
        name: "persons",
        about: "People associated with a connected account",
        operations: &[
            op("create", Post, "/v1/accounts/{account}/persons", "Create a person"),
            op("retrieve", Get, "/v1/accounts/{account}/persons/{person}", "Retrieve a person"),
            op("update", Post, "/v1/accounts/{account}/persons/{person}", "Update a person"),
            op("list", Get, "/v1/accounts/{account}/persons", "List an account's persons"),
            op("delete", Delete, "/v1/accounts/{account}/persons/{person}", "Delete a person"),
        ],
    },
    Resource {
        name: "external_accounts",
        about: "Bank accounts and debit cards that receive a connected account's payouts",
        operations: &[
            op("create", Post, "/v1/accounts/{account}/external_accounts", "Add an external account"),
            op("retrieve", Get, "/v1/accounts/{account}/external_accounts/{external_account}", "Retrieve an external account"),
            op("update", Post, "/v1/accounts/{account}/external_accounts/{external_account}", "Update an external account"),
            op("list", Get, "/v1/accounts/{account}/external_accounts", "List an account's external accounts"),
            op("delete", Delete, "/v1/accounts/{account}/external_accounts/{external_account}", "Delete an external account"),
        ],
    },
    Resource {
        name: "customers",
        about: "Customers: the buyers",
        operations: &[
            op("create", Post, "/v1/customers", "Create a customer"),
            op("retrieve", Get, "/v1/customers/{customer}", "Retrieve a customer"),
            op("update", Post, "/v1/customers/{customer}", "Update a customer"),
            op("list", Get, "/v1/customers", "List customers"),
            op("delete", Delete, "/v1/customers/{customer}", "Delete a customer"),
        ],
    },
    Resource {
        name: "payment_methods",
        about: "Payment methods (test cards such as pm_card_visa)",
        operations: &[
            op("create", Post, "/v1/payment_methods", "Create a payment method"),
            op("retrieve", Get, "/v1/payment_methods/{payment_method}", "Retrieve a payment method"),
            op("update", Post, "/v1/payment_methods/{payment_method}", "Update a payment method"),
            op("list", Get, "/v1/payment_methods", "List a customer's payment methods"),
            op("attach", Post, "/v1/payment_methods/{payment_method}/attach", "Attach a payment method to a customer"),
            op("detach", Post, "/v1/payment_methods/{payment_method}/detach", "Detach a payment method from its customer"),
        ],
    },
    Resource {
        name: "payment_intents",
        about: "Payment intents: collecting a payment",
        operations: &[
            op("create", Post, "/v1/payment_intents", "Create a payment intent"),
            op("retrieve", Get, "/v1/payment_intents/{intent}", "Retrieve a payment intent"),
            op("update", Post, "/v1/payment_intents/{intent}", "Update a payment intent"),
            op("list", Get, "/v1/payment_intents", "List payment intents"),
            op("confirm", Post, "/v1/payment_intents/{intent}/confirm", "Confirm a payment intent"),
            op("capture", Post, "/v1/payment_intents/{intent}/capture", "Capture an authorized payment intent"),
            op("cancel", Post, "/v1/payment_intents/{intent}/cancel", "Cancel a payment intent"),
        ],
    },
    Resource {
        name: "charges",
        about: "Charges: single attempts to move money",
        operations: &[
            op("create", Post, "/v1/charges", "Create a charge"),
            op("retrieve", Get, "/v1/charges/{charge}", "Retrieve a charge"),
            op("update", Post, "/v1/charges/{charge}", "Update a charge"),
            op("list", Get, "/v1/charges", "List charges"),
            op("capture", Post, "/v1/charges/{charge}/capture", "Capture an uncaptured charge"),
        ],
    },
    Resource {
        name: "refunds",
        about: "Refunds of charges",
        operations: &[
            op("create", Post, "/v1/refunds", "Refund a charge or payment intent"),
            op("retrieve", Get, "/v1/refunds/{refund}", "Retrieve a refund"),
            op("update", Post, "/v1/refunds/{refund}", "Update a refund"),
            op("list", Get, "/v1/refunds", "List refunds"),
        ],
    },
    Resource {
        name: "disputes",
        about: "Disputes (chargebacks) of charges",
        operations: &[
            op("retrieve", Get, "/v1/disputes/{dispute}", "Retrieve a dispute"),
            op("update", Post, "/v1/disputes/{dispute}", "Submit evidence or update a dispute"),
            op("list", Get, "/v1/disputes", "List disputes"),
            op("close", Post, "/v1/disputes/{dispute}/close", "Close a dispute (accept the loss)"),
        ],
    },
    Resource {
        name: "transfers",
        about: "Transfers of funds to connected accounts",
        operations: &[
            op("create", Post, "/v1/transfers", "Create a transfer"),
            op("retrieve", Get, "/v1/transfers/{transfer}", "Retrieve a transfer"),
            op("update", Post, "/v1/transfers/{transfer}", "Update a transfer"),
            op("list", Get, "/v1/transfers", "List transfers"),
        ],
    },
    Resource {
        name: "transfer_reversals",
        about: "Reversals of transfers",
        operations: &[
            op("create", Post, "/v1/transfers/{transfer}/reversals", "Reverse a transfer"),
            op("retrieve", Get, "/v1/transfers/{transfer}/reversals/{reversal}", "Retrieve a transfer reversal"),
            op("update", Post, "/v1/transfers/{transfer}/reversals/{reversal}", "Update a transfer reversal"),
            op("list", Get, "/v1/transfers/{transfer}/reversals", "List a transfer's reversals"),
        ],
    },
    Resource {
        name: "application_fees",
        about: "Application fees collected by the platform",
        operations: &[
            op("retrieve", Get, "/v1/application_fees/{fee}", "Retrieve an application fee"),
            op("list", Get, "/v1/application_fees", "List application fees"),
        ],
    },
    Resource {
        name: "fee_refunds",
        about: "Refunds of application fees",
        operations: &[
            op("create", Post, "/v1/application_fees/{fee}/refunds", "Refund an application fee"),
            op("retrieve", Get, "/v1/application_fees/{fee}/refunds/{refund}", "Retrieve an application fee refund"),
            op("update", Post, "/v1/application_fees/{fee}/refunds/{refund}", "Update an application fee refund"),
            op("list", Get, "/v1/application_fees/{fee}/refunds", "List an application fee's refunds"),
        ],
    },
    Resource {
        name: "balance",
        about: "Available and pending funds",
        operations: &[
            op("retrieve", Get, "/v1/balance", "Retrieve the balance"),
        ],
    },
    Resource {
        name: "balance_transactions",
        about: "Every movement of funds in a balance",
        operations: &[
            op("retrieve", Get, "/v1/balance_transactions/{balance_transaction}", "Retrieve a balance transaction"),
            op("list", Get, "/v1/balance_transactions", "List balance transactions"),
        ],
    },
    Resource {
        name: "payouts",
        about: "Payouts from a balance to a bank account or debit card",
        operations: &[
            op("create", Post, "/v1/payouts", "Create a payout"),
            op("retrieve", Get, "/v1/payouts/{payout}", "Retrieve a payout"),
            op("update", Post, "/v1/payouts/{payout}", "Update a payout"),
            op("list", Get, "/v1/payouts", "List payouts"),
            op("cancel", Post, "/v1/payouts/{payout}/cancel", "Cancel a pending payout"),
        ],
    },
    Resource {
        name: "events",
        about: "Events: what happened, as webhooks deliver it",
        operations: &[
            op("retrieve", Get, "/v1/events/{event}", "Retrieve an event"),
            op("list", Get, "/v1/events", "List events"),
            Operation { flags: RESEND_FLAGS, ..op("resend", Post, "/v1/sluice/events/{event}/resend", "Deliver an event to a webhook endpoint again") },
        ],
    },
    Resource {
        name: "webhook_endpoints",
        about: "Webhook endpoints that receive events",
        operations: &[
            op("create", Post, "/v1/webhook_endpoints", "Create a webhook endpoint"),
            op("retrieve", Get, "/v1/webhook_endpoints/{webhook_endpoint}", "Retrieve a webhook endpoint"),
            op("update", Post, "/v1/webhook_endpoints/{webhook_endpoint}", "Update a webhook endpoint"),
            op("list", Get, "/v1/webhook_endpoints", "List webhook endpoints"),
            op("delete", Delete, "/v1/webhook_endpoints/{webhook_endpoint}", "Delete a webhook endpoint"),
        ],
    },
];

pub fn find(name: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|resource| resource.name == name)
}

/// The `{name}` placeholders of a path template, in order.
pub fn placeholders(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_come_in_path_order() {
        assert_eq!(
            placeholders("/v1/application_fees/{fee}/refunds/{refund}"),
            vec!["fee", "refund"]
        );
        assert!(placeholders("/v1/balance").is_empty());
    }

    #[test]
    fn the_table_is_consistent() {
        let mut names = std::collections::HashSet::new();
        for resource in RESOURCES {
            assert!(names.insert(resource.name), "{} twice", resource.name);
            let mut operations = std::collections::HashSet::new();
            for operation in resource.operations {
                assert!(
                    operations.insert(operation.name),
                    "{} {}",
                    resource.name,
                    operation.name
                );
                assert!(operation.path.starts_with("/v1/"), "{}", operation.path);
                let mut args = std::collections::HashSet::new();
                for name in placeholders(operation.path) {
                    assert!(args.insert(name), "{} repeats {{{name}}}", operation.path);
                }
                if let Some(bare) = operation.bare_path {
                    assert!(placeholders(bare).is_empty());
                }
            }
        }
    }
}
