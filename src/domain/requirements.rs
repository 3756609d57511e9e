//! The requirements engine: what a connected account still has to provide, and what that means
//! for its capabilities, `charges_enabled`, `payouts_enabled` and `details_submitted`.
//!
//! Pure and synchronous: no I/O, no clock (the caller passes `now`), no panics on odd input. A
//! missing field, a `null`, or a value of the wrong JSON type reads as "not provided".
//!
//! # Model
//!
//! [`evaluate`] looks at the account document (Stripe's wire shape), its persons, the requested
//! capabilities and the platform's rejection, and derives every requirement from scratch. Each
//! requirement is a dotted path as Stripe spells it (`individual.dob.day`, `company.tax_id`,
//! `person_123.address.city`, `representative.first_name`, `external_account`) and is in one of
//! these states:
//!
//! - *missing*: never provided. In `currently_due` (and `past_due`, see below).
//! - *failed*: provided, but validation or verification failed, or the failure of something else
//!   escalated to it (a failed date of birth makes a US person's full `id_number` due). In
//!   `currently_due`, with an `errors` entry (`{code, reason, requirement}`) when it is the field
//!   that failed.
//! - *eventually*: only due once a volume threshold is reached (the full US SSN). In
//!   `eventually_due` only; `eventually_due` is always a superset of `currently_due`.
//! - *pending*: a verification is under way (`verification.status = "pending"`). In
//!   `pending_verification`.
//!
//! Requirements belong to capabilities: `card_payments` (and every other `*_payments` capability)
//! needs everything; `transfers` (and every other capability) needs everything but
//! `business_profile.mcc` and `company.phone`. `external_account` is an account-level requirement
//! (it gates payouts, not a capability): it is listed in the account's `requirements` whenever a
//! capability is requested, and in no capability's. An unrequested capability contributes
//! nothing, so removing a capability removes its requirements.
//!
//! ## Lists, deadlines, disabled reasons
//!
//! - Every list is sorted and deduplicated; `errors` are sorted by requirement then code.
//! - Sluice has no volume thresholds or deadlines: `current_deadline` is always `null`, and every
//!   currently due requirement is also past due (`past_due == currently_due`), which is what Stripe
//!   shows for a new account whose initial requirements block its capabilities.
//!   `future_requirements` is always the empty shape (nothing is scheduled to change).
//! - `alternatives`: when `business_profile.url` is due, one alternative says that
//!   `business_profile.product_description` can be given instead.
//! - `disabled_reason`: `rejected.<reason>` when the platform rejected the account; else
//!   `requirements.past_due` when anything is past due; else `requirements.pending_verification`
//!   when a verification is pending; else `null` (also when no capability is requested).
//! - A rejected account reports empty lists, every capability `inactive` with the rejection as
//!   its `disabled_reason`, and charges and payouts disabled.
//!
//! ## Capabilities and account flags (test mode: no real checks)
//!
//! - A capability is `active` when its requirements have nothing currently due or past due,
//!   `pending` when only `pending_verification` is non-empty, `inactive` otherwise.
//! - `charges_enabled`: `card_payments` is requested and active.
//! - `payouts_enabled`: `transfers` or `card_payments` is active, and no account-level requirement
//!   is due: an external account exists (`external_accounts.data` non-empty or
//!   `external_accounts.total_count > 0`) and the business address did not fail validation.
//! - `details_submitted`: once true in the document it stays true (Stripe never takes it back);
//!   otherwise true when a capability is requested and nothing is *missing* (verification failures
//!   that ask for a field again do not count: the details were submitted).
//!
//! `controller.requirement_collection` does not change the rules: for `stripe` (Express and
//! Standard accounts) Stripe collects the information itself, but the same requirements are
//! reported.
//!
//! # Rules by country and business type
//!
//! Two rule sets, from Stripe's "Required verification information" pages:
//!
//! - **US** (`US`; also any other country, with a note in [`Outcome::notes`]): addresses include
//!   `state`; individuals and representatives owe `ssn_last_4` now (satisfied by
//!   `ssn_last_4_provided` or `id_number_provided`) and the full `id_number` eventually (Stripe asks
//!   for the 9 digits past a volume threshold); owners owe `ssn_last_4` and `id_number`
//!   eventually; the representative owes `relationship.executive` (true) and `relationship.title`.
//! - **Europe** (the EU and EEA countries, plus `GB` and `CH`; DE and FR are the tested ones): no
//!   `state`, no SSN; a company also owes `company.directors_provided` (or a director person).
//!
//! For every account with a requested capability: `business_type`, `business_profile.mcc`
//! (payments only), `business_profile.url` (or `business_profile.product_description`),
//! `tos_acceptance.date`, `tos_acceptance.ip`, and `external_account` (account level).
//!
//! - `individual`: `individual.{first_name,last_name,email,phone}`, `individual.dob.*`,
//!   `individual.address.{city,line1,postal_code[,state]}` (+ the US SSN fields above).
//! - `company`, `non_profit`, `government_entity` (and any unknown business type, with a note):
//!   `company.address.*`, `company.name`, `company.phone` (payments only), `company.tax_id`
//!   (satisfied by `tax_id_provided`), `company.owners_provided` (satisfied by the flag or by owners
//!   whose `percent_ownership` adds up to 100; not asked of non-profits, government entities and
//!   public companies), Europe: `company.directors_provided`.
//!   - Before a representative exists, its fields are due as `representative.<field>`; once a person
//!     with `relationship.representative = true` exists, as `<person id>.<field>` (Stripe's
//!     `person_xxx.dob.day`). Representatives owe the individual's fields plus
//!     `relationship.title`; owners owe names, email, date of birth and address; directors and
//!     executives owe their names.
//!
//! Each person also gets its own `person_requirements` (paths without the person prefix) in
//! [`Outcome::persons`].
//!
//! # Identity verification (Stripe's Connect test values)
//!
//! Sensitive values (`id_number`, `ssn_last_4`, `company.tax_id`) are never stored, so they are
//! checked at write time by [`verify_identity`] / [`verify_company_tax_id`] (or [`verify_person`]
//! for a whole person), and only the outcome is kept in the document:
//!
//! - individual / person: `verification.status` and `verification.details_code` (write them with
//!   [`apply_verification`]; it also fills `verification.details` with a readable reason);
//! - company tax ID: `company.tax_id_verification = {"status", "details_code"}` (a Sluice field;
//!   [`tax_id_verification_value`] builds it). Stripe's own `company.verification` only holds a
//!   document.
//!
//! Test values:
//!
//! | value | outcome |
//! |---|---|
//! | dob `1901-01-01` | verified |
//! | dob `1902-01-01` | verified (Stripe: immediately, without waiting for a webhook) |
//! | dob `1900-01-01` | OFAC alert: unverified, `details_code = failed_other`, `verification.document` due with `verification_failed_other` |
//! | any other dob | unverified, `failed_keyed_identity`; `dob.*` due again with `verification_failed_keyed_identity`, plus the next step: US without a full SSN -> `id_number`, otherwise `verification.document` |
//! | address line1 `address_full_match` | verified |
//! | address line1 `address_no_match` | `address.line1`, `address.city`, `address.postal_code` (US: `address.state`) due again with `verification_failed_address_match`; Europe: `verification.additional_document` due |
//! | address line1 `address_line1_no_match` | `address.line1` only (partial match) |
//! | id_number `000000000`, `222222222` | verified (`222222222`: immediately) |
//! | id_number `111111111` | `id_number` due again with `verification_failed_id_number_match`, and `verification.document` due |
//! | ssn_last_4 `0000` | verified |
//! | ssn_last_4 `1111` (Sluice's choice: the last 4 digits of `111111111`) | `id_number` (the full SSN) due with `verification_failed_keyed_identity`, as Stripe asks when the last 4 fail |
//! | company tax_id `000000000`, `000000001` (non-profit), `222222222` (immediately) | verified |
//! | company tax_id `111111111` | identity mismatch: `company.tax_id` due again with `verification_failed_tax_id_match`, and `company.verification.document` |
//! | company tax_id `111111112` | not issued: the same with `verification_failed_tax_id_not_issued` |
//! | `company.verification.document.front` set (not the failure token) | settles a tax ID failure |
//! | company address line1 `address_no_match` | `company.address.line1` due again, for `transfers` and payouts only: charges stay enabled |
//! | company address line1 `address_line1_no_match` | every `company.address.*` field due again, for every capability |
//! | `verification.document.front = file_identity_document_success` | the person is verified whatever the other test values say |
//! | `verification.document.front = file_identity_document_failure` | `verification.document` due with `verification_document_failed_other` |
//! | `verification.additional_document.front` | the same for the address (`..._success` clears an address failure) |
//!
//! The tax ID codes follow Stripe's "Testing Stripe Connect" page (`111111111`: "identity
//! mismatch", `111111112`: "tax ID not issued"); `CONVENTIONS.md` section 11 had them the other way
//! round, marked as not re-read.
//!
//! Decisions where Stripe's pages say nothing:
//!
//! - Other id numbers, SSN last 4 digits and tax IDs than the failing test values verify (Stripe
//!   only documents that *dates of birth* other than the test ones fail). Any other uploaded file
//!   counts as a successful document.
//! - Missing pieces do not fail: [`verify_identity`] checks what it is given. The status is
//!   `verified` when the date of birth was given and verified and nothing given failed;
//!   `unverified` without errors while the date of birth is missing; `unverified` with errors as
//!   soon as one given value fails (a failing test value will never verify, so there is no point
//!   waiting for the rest).
//! - Sluice answers synchronously, so `1901-01-01` and `1902-01-01` both give `verified` at once;
//!   nothing here produces `pending`, but a stored `pending` status is honoured by [`evaluate`].
//! - Age: outside the three test dates, a date of birth less than 13 years before `now` is
//!   `invalid_dob_age_under_minimum`, more than 120 years before `now` is
//!   `invalid_dob_age_over_maximum`, and an impossible date is `invalid_value_other`.
//! - [`evaluate`] re-checks the date of birth and address line1 from the document (they are
//!   stored), so a failure names the right fields. The id number is not stored: a stored status
//!   `unverified` with `details_code = failed_keyed_identity` while the date of birth passes means
//!   the id number (or SSN last 4) failed. A stored `verified` status is trusted as is. When the
//!   date of birth and the id number both fail, only the date of birth is named (the id number is
//!   due again anyway, as the next step); [`verify_person`] carries an id number failure over to
//!   writes that do not resend the number.
//!
//! # Sources
//!
//! Stripe documentation: "Testing Stripe Connect" (test dates of birth, addresses, personal ID
//! numbers, business tax IDs, business addresses, file tokens), "Testing account verification
//! during API onboarding" (a US company's requirements, representative and owner flow),
//! "Handle verification with the API" (the requirements hash, errors, disabled reasons, error
//! codes), "Required verification information" (per country, business type and capability),
//! "The Country Spec object" (US verification fields), "2024 updates to US verification
//! requirements: FAQs" and "US connected accounts accepting card payments verification requirement
//! changes" (SSN last 4 at onboarding, full SSN after a failure or past a threshold); and the API
//! reference schemas `account_requirements`, `account_capability_requirements`, `capability`,
//! `person_requirements`, `account_requirements_error`, `legal_entity_person_verification`.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

// ------------------------------------------------------------------------------------------------
// Public API
// ------------------------------------------------------------------------------------------------

/// Everything the engine reads.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The account document in Stripe's wire shape.
    pub account: &'a Value,
    /// The requested capabilities, e.g. `["card_payments", "transfers"]`.
    pub requested_capabilities: &'a [&'a str],
    /// The account's person objects (Stripe shape), for company accounts.
    pub persons: &'a [Value],
    /// `Some("fraud" | "terms_of_service" | "other")` when the platform rejected the account.
    pub rejected_reason: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
}

/// What the engine derives.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Stripe's `account_requirements`.
    pub requirements: Value,
    /// Stripe's `account_future_requirements` (always the empty shape here).
    pub future_requirements: Value,
    /// One per requested capability, in the order requested (duplicates dropped).
    pub capabilities: Vec<CapabilityOutcome>,
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    pub details_submitted: bool,
    /// `requirements` / `future_requirements` for each person in [`Input::persons`] (in order) and
    /// for the account's `individual` when it has an `id`.
    pub persons: Vec<PersonOutcome>,
    /// Remarks on rules that were approximated, e.g. a country without rules of its own.
    pub notes: Vec<String>,
}

/// One requested capability.
#[derive(Debug, Clone, PartialEq)]
pub struct CapabilityOutcome {
    pub name: String,
    /// `active`, `inactive` or `pending` (the engine never reports the others).
    pub status: &'static str,
    /// Stripe's `account_capability_requirements`.
    pub requirements: Value,
    /// Stripe's `account_capability_future_requirements` (always the empty shape here).
    pub future_requirements: Value,
}

/// The requirements of one person, paths without the person prefix (`dob.day`).
#[derive(Debug, Clone, PartialEq)]
pub struct PersonOutcome {
    /// The person's `id`.
    pub id: String,
    /// Stripe's `person_requirements`.
    pub requirements: Value,
    /// Stripe's `person_future_requirements` (always the empty shape here).
    pub future_requirements: Value,
}

/// The identity values of an individual or person, as submitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdentitySubmission<'a> {
    /// (day, month, year)
    pub dob: Option<(i64, i64, i64)>,
    pub address_line1: Option<&'a str>,
    pub id_number: Option<&'a str>,
    pub ssn_last_4: Option<&'a str>,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationResult {
    /// `verified`, `unverified` or `pending`.
    pub status: &'static str,
    /// Persons: Stripe's `verification.details_code` (`failed_keyed_identity`, `failed_other`).
    /// Company tax IDs: the requirement error code (`verification_failed_tax_id_match`, ...).
    pub details_code: Option<&'static str>,
    /// (requirement path suffix such as `dob.day`, `id_number`, `address.line1`, `tax_id`,
    /// Stripe error code, reason)
    pub errors: Vec<(String, &'static str, String)>,
}

/// Verifies submitted identity values against Stripe's test values (see the module docs).
pub fn verify_identity(s: &IdentitySubmission) -> VerificationResult {
    let mut failures: Vec<Failure> = Vec::new();
    let mut dob_verified = false;
    let mut ofac = false;
    let mut keyed = false;
    if let Some(dob) = s.dob {
        match check_dob(dob) {
            DobCheck::Verified => dob_verified = true,
            DobCheck::Ofac => {
                ofac = true;
                failures.push(ofac_failure());
            }
            DobCheck::Mismatch => {
                keyed = true;
                failures.extend(keyed_dob_failures());
            }
        }
    }
    if let Some(line1) = s.address_line1 {
        failures.extend(address_failures(check_line1(line1), Region::Europe));
    }
    let id_failure = match (s.id_number, s.ssn_last_4) {
        (Some(id), _) => check_id_number(id),
        (None, Some(last4)) => check_ssn_last_4(last4),
        (None, None) => None,
    };
    if let Some(f) = id_failure {
        keyed = true;
        failures.push(f.failure());
    }
    let status = if failures.is_empty() && dob_verified {
        STATUS_VERIFIED
    } else {
        STATUS_UNVERIFIED
    };
    let details_code = if keyed {
        Some(DETAILS_FAILED_KEYED_IDENTITY)
    } else if ofac || !failures.is_empty() {
        Some(DETAILS_FAILED_OTHER)
    } else {
        None
    };
    VerificationResult {
        status,
        details_code,
        errors: failures.into_iter().map(Failure::into_tuple).collect(),
    }
}

/// Verifies a company tax ID against Stripe's test values: `111111111` is an identity mismatch
/// (`verification_failed_tax_id_match`), `111111112` was never issued
/// (`verification_failed_tax_id_not_issued`); anything else non-empty verifies. Dashes and spaces
/// are ignored.
pub fn verify_company_tax_id(tax_id: &str) -> VerificationResult {
    let normalized = digits_only(tax_id);
    let failure = match normalized.as_str() {
        "" => {
            return VerificationResult {
                status: STATUS_UNVERIFIED,
                details_code: None,
                errors: Vec::new(),
            }
        }
        "111111111" => Some((
            CODE_TAX_ID_MATCH,
            "The company name and tax ID could not be matched with the tax authority's records. \
             Correct the company name or tax ID, or upload a document showing both.",
        )),
        "111111112" => Some((
            CODE_TAX_ID_NOT_ISSUED,
            "The tax ID has not been issued by the tax authority. Correct the tax ID, or upload a \
             document showing it.",
        )),
        _ => None,
    };
    match failure {
        None => VerificationResult {
            status: STATUS_VERIFIED,
            details_code: None,
            errors: Vec::new(),
        },
        Some((code, reason)) => VerificationResult {
            status: STATUS_UNVERIFIED,
            details_code: Some(code),
            errors: vec![("tax_id".to_string(), code, reason.to_string())],
        },
    }
}

/// Verifies an individual or person at write time: the date of birth and address line1 are read
/// from `after_write` (the document as it will be stored), `id_number` / `ssn_last_4` are the
/// sensitive values in this request, if any. When the request carries neither and the stored
/// verification (`before_write`) had failed on the id number, that failure is carried over
/// (Sluice cannot re-check a number it never stored).
pub fn verify_person(
    after_write: &Value,
    before_write: Option<&Value>,
    id_number: Option<&str>,
    ssn_last_4: Option<&str>,
) -> VerificationResult {
    let submission = IdentitySubmission {
        dob: dob_of(after_write),
        address_line1: str_at(after_write, &["address", "line1"]),
        id_number,
        ssn_last_4,
    };
    let mut result = verify_identity(&submission);
    if id_number.is_none() && ssn_last_4.is_none() {
        if let Some(previous) = before_write.and_then(inferred_id_failure) {
            result.status = STATUS_UNVERIFIED;
            result.details_code = Some(DETAILS_FAILED_KEYED_IDENTITY);
            result.errors.push(previous.failure().into_tuple());
        }
    }
    result
}

/// Writes a person's verification result into its `verification` object (Stripe's
/// `legal_entity_person_verification`): `status`, `details_code`, and `details` (the first
/// reason, or `null`). Other keys (`document`, `additional_document`) are kept; anything that is
/// not an object is replaced by one.
pub fn apply_verification(verification: &mut Value, result: &VerificationResult) {
    if !verification.is_object() {
        let document = json!({"back": null, "details": null, "details_code": null, "front": null});
        *verification = json!({
            "additional_document": document.clone(),
            "details": null,
            "details_code": null,
            "document": document,
            "status": STATUS_UNVERIFIED,
        });
    }
    if let Some(map) = verification.as_object_mut() {
        let details = result
            .errors
            .first()
            .map_or(Value::Null, |(_, _, reason)| Value::String(reason.clone()));
        map.insert("details".to_string(), details);
        map.insert(
            "details_code".to_string(),
            result.details_code.map_or(Value::Null, Value::from),
        );
        map.insert("status".to_string(), Value::from(result.status));
    }
}

/// The value to store at `company.tax_id_verification` after [`verify_company_tax_id`].
pub fn tax_id_verification_value(result: &VerificationResult) -> Value {
    json!({
        "details_code": result.details_code,
        "status": result.status,
    })
}

/// Derives the account's requirements, capability statuses and flags.
pub fn evaluate(input: &Input) -> Outcome {
    let account = input.account;
    let mut notes = Vec::new();
    let region = region_for(str_at(account, &["country"]), &mut notes);
    let ctx = Ctx {
        region,
        now: input.now,
    };

    // The requested capabilities, deduplicated, in order.
    let mut seen = BTreeSet::new();
    let capabilities: Vec<(&str, Class)> = input
        .requested_capabilities
        .iter()
        .map(|name| name.trim())
        .filter(|name| !name.is_empty() && seen.insert(*name))
        .map(|name| (name, Class::of(name)))
        .collect();
    let requested = Classes {
        payments: capabilities.iter().any(|(_, c)| *c == Class::Payments),
        transfers: capabilities.iter().any(|(_, c)| *c == Class::Transfers),
    };

    let mut col = Collector::default();
    account_items(&mut col, &ctx, account, input.persons, &mut notes);

    let rejected = input.rejected_reason.map(rejected_reason);

    // The account's own lists.
    let mut account_lists = Lists::default();
    for item in &col.items {
        if item.scope.selected(requested, true) {
            account_lists.add(&item.path, item);
        }
    }
    let nothing_missing = account_lists.missing.is_empty();
    if rejected.is_some() {
        account_lists = Lists::default();
    }
    let account_disabled = rejected.or_else(|| account_lists.disabled_reason());
    let requirements = account_lists.to_json(Shape::Account, account_disabled);

    // One outcome per capability.
    let mut outcomes = Vec::new();
    for (name, class) in &capabilities {
        let only = Classes::only(*class);
        let mut lists = Lists::default();
        if rejected.is_none() {
            for item in &col.items {
                if item.scope.selected(only, false) {
                    lists.add(&item.path, item);
                }
            }
        }
        let status = if rejected.is_some() || !lists.currently_due.is_empty() {
            "inactive"
        } else if !lists.pending.is_empty() {
            "pending"
        } else {
            "active"
        };
        let disabled = rejected.or_else(|| lists.disabled_reason());
        outcomes.push(CapabilityOutcome {
            name: (*name).to_string(),
            status,
            requirements: lists.to_json(Shape::Capability, disabled),
            future_requirements: Lists::default().to_json(Shape::Capability, None),
        });
    }

    let is_active = |wanted: &str| {
        outcomes
            .iter()
            .any(|c| c.name == wanted && c.status == "active")
    };
    // Payouts also stop on account-level requirements: the external account, a business address
    // that failed validation.
    let payouts_blocked = col.items.iter().any(|item| {
        item.scope == Scope::Account && matches!(item.state, State::Missing | State::Failed)
    });
    let charges_enabled = rejected.is_none() && is_active("card_payments");
    let payouts_enabled = rejected.is_none()
        && !payouts_blocked
        && (is_active("transfers") || is_active("card_payments"));
    let details_submitted =
        flag(account, &["details_submitted"]) || (!capabilities.is_empty() && nothing_missing);

    let individual_id = if str_at(account, &["business_type"]) == Some("individual") {
        str_at(account, &["individual", "id"])
    } else {
        None
    };
    let persons = person_outcomes(
        &col,
        individual_id,
        input.persons,
        requested,
        rejected.is_some(),
    );

    Outcome {
        requirements,
        future_requirements: Lists::default().to_json(Shape::Account, None),
        capabilities: outcomes,
        charges_enabled,
        payouts_enabled,
        details_submitted,
        persons,
        notes,
    }
}

// ------------------------------------------------------------------------------------------------
// Codes
// ------------------------------------------------------------------------------------------------

const STATUS_VERIFIED: &str = "verified";
const STATUS_UNVERIFIED: &str = "unverified";
const STATUS_PENDING: &str = "pending";

const DETAILS_FAILED_KEYED_IDENTITY: &str = "failed_keyed_identity";
const DETAILS_FAILED_OTHER: &str = "failed_other";

const CODE_KEYED_IDENTITY: &str = "verification_failed_keyed_identity";
const CODE_ADDRESS_MATCH: &str = "verification_failed_address_match";
const CODE_ID_NUMBER_MATCH: &str = "verification_failed_id_number_match";
const CODE_FAILED_OTHER: &str = "verification_failed_other";
const CODE_DOCUMENT_FAILED: &str = "verification_document_failed_other";
const CODE_TAX_ID_MATCH: &str = "verification_failed_tax_id_match";
const CODE_TAX_ID_NOT_ISSUED: &str = "verification_failed_tax_id_not_issued";
const CODE_AGE_UNDER_MINIMUM: &str = "invalid_dob_age_under_minimum";
const CODE_AGE_OVER_MAXIMUM: &str = "invalid_dob_age_over_maximum";
const CODE_INVALID_VALUE: &str = "invalid_value_other";

const DOCUMENT_SUCCESS: &str = "file_identity_document_success";
const DOCUMENT_FAILURE: &str = "file_identity_document_failure";

const DOB_FIELDS: [&str; 3] = ["dob.day", "dob.month", "dob.year"];

// ------------------------------------------------------------------------------------------------
// Test-value checks shared by the write-time verifiers and the engine
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DobCheck {
    Verified,
    Ofac,
    Mismatch,
}

fn check_dob((day, month, year): (i64, i64, i64)) -> DobCheck {
    match (year, month, day) {
        (1901, 1, 1) | (1902, 1, 1) => DobCheck::Verified,
        (1900, 1, 1) => DobCheck::Ofac,
        _ => DobCheck::Mismatch,
    }
}

/// The three test dates are exempt from the age rules (they are all over 120 years ago).
fn is_test_dob((day, month, year): (i64, i64, i64)) -> bool {
    day == 1 && month == 1 && (1900..=1902).contains(&year)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddressCheck {
    Ok,
    NoMatch,
    Line1NoMatch,
}

fn check_line1(line1: &str) -> AddressCheck {
    match line1.trim() {
        "address_no_match" => AddressCheck::NoMatch,
        "address_line1_no_match" => AddressCheck::Line1NoMatch,
        _ => AddressCheck::Ok,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdFailure {
    /// The full id number did not match.
    IdNumber,
    /// The SSN's last 4 digits did not match: the full number is needed.
    SsnLast4,
}

impl IdFailure {
    fn failure(self) -> Failure {
        match self {
            IdFailure::IdNumber => Failure::new(
                "id_number",
                CODE_ID_NUMBER_MATCH,
                "The ID number could not be matched with the person's identity. Correct it, or \
                 upload an identity document.",
            ),
            IdFailure::SsnLast4 => Failure::new(
                "id_number",
                CODE_KEYED_IDENTITY,
                "The last 4 digits of the SSN could not be verified. Provide the full SSN \
                 (id_number).",
            ),
        }
    }
}

fn check_id_number(id: &str) -> Option<IdFailure> {
    (digits_only(id) == "111111111").then_some(IdFailure::IdNumber)
}

fn check_ssn_last_4(last4: &str) -> Option<IdFailure> {
    (digits_only(last4) == "1111").then_some(IdFailure::SsnLast4)
}

fn digits_only(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

/// One failed field: path suffix, Stripe error code, reason.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    field: String,
    code: &'static str,
    reason: String,
}

impl Failure {
    fn new(field: &str, code: &'static str, reason: &str) -> Self {
        Failure {
            field: field.to_string(),
            code,
            reason: reason.to_string(),
        }
    }

    fn into_tuple(self) -> (String, &'static str, String) {
        (self.field, self.code, self.reason)
    }
}

fn ofac_failure() -> Failure {
    Failure::new(
        "verification.document",
        CODE_FAILED_OTHER,
        "This person matched a sanctions list (OFAC alert). Upload an identity document so the \
         match can be reviewed.",
    )
}

fn keyed_dob_failures() -> Vec<Failure> {
    DOB_FIELDS
        .iter()
        .map(|field| {
            Failure::new(
                field,
                CODE_KEYED_IDENTITY,
                "The provided identity information could not be verified. Check the name and \
                 date of birth, or upload an identity document.",
            )
        })
        .collect()
}

fn address_failures(check: AddressCheck, region: Region) -> Vec<Failure> {
    let fields: &[&str] = match check {
        AddressCheck::Ok => &[],
        AddressCheck::Line1NoMatch => &["address.line1"],
        AddressCheck::NoMatch => match region {
            Region::Us => &[
                "address.city",
                "address.line1",
                "address.postal_code",
                "address.state",
            ],
            Region::Europe => &["address.city", "address.line1", "address.postal_code"],
        },
    };
    let reason = if check == AddressCheck::Line1NoMatch {
        "The street address (line1) did not match the person's records. Correct it, or upload a \
         proof of address."
    } else {
        "The address did not match the person's records. Correct it, or upload a proof of \
         address."
    };
    fields
        .iter()
        .map(|field| Failure::new(field, CODE_ADDRESS_MATCH, reason))
        .collect()
}

/// A stored `unverified` / `failed_keyed_identity` whose date of birth passes can only be an id
/// number (or SSN last 4) failure: the id number is not stored, so this is how it is remembered.
fn inferred_id_failure(person: &Value) -> Option<IdFailure> {
    let status = str_at(person, &["verification", "status"])?;
    let details = str_at(person, &["verification", "details_code"])?;
    if status != STATUS_UNVERIFIED || details != DETAILS_FAILED_KEYED_IDENTITY {
        return None;
    }
    if dob_of(person).is_some_and(|dob| check_dob(dob) != DobCheck::Verified) {
        return None;
    }
    if flag(person, &["id_number_provided"]) {
        Some(IdFailure::IdNumber)
    } else if flag(person, &["ssn_last_4_provided"]) {
        Some(IdFailure::SsnLast4)
    } else {
        None
    }
}

/// Age rules for a date of birth (`None` when it is fine).
fn dob_validation_error(dob: (i64, i64, i64), now: i64) -> Option<(&'static str, &'static str)> {
    let (day, month, year) = dob;
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return Some((CODE_INVALID_VALUE, "The date of birth is not a valid date."));
    }
    if is_test_dob(dob) {
        return None;
    }
    let (now_year, now_month, now_day) = civil_from_unix(now);
    let mut age = now_year.saturating_sub(year);
    if (now_month, now_day) < (month, day) {
        age = age.saturating_sub(1);
    }
    if age < 13 {
        Some((
            CODE_AGE_UNDER_MINIMUM,
            "The person must be at least 13 years old.",
        ))
    } else if age > 120 {
        Some((
            CODE_AGE_OVER_MAXIMUM,
            "The date of birth must be within the past 120 years.",
        ))
    } else {
        None
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// (year, month, day) of a unix time, proleptic Gregorian, UTC.
fn civil_from_unix(secs: i64) -> (i64, i64, i64) {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

// ------------------------------------------------------------------------------------------------
// Rules
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Us,
    Europe,
}

/// EU and EEA members, plus the United Kingdom and Switzerland.
const EUROPE: [&str; 32] = [
    "AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GR", "HR", "HU",
    "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK",
];

fn region_for(country: Option<&str>, notes: &mut Vec<String>) -> Region {
    let code = country.map(|c| c.trim().to_ascii_uppercase());
    match code.as_deref() {
        Some("US") => Region::Us,
        Some(c) if EUROPE.contains(&c) => Region::Europe,
        Some(c) => {
            notes.push(format!(
                "country {c} has no requirement rules of its own in Sluice: US rules applied"
            ));
            Region::Us
        }
        None => {
            notes.push("the account has no country: US rules applied".to_string());
            Region::Us
        }
    }
}

impl Region {
    fn address_fields(self) -> &'static [&'static str] {
        match self {
            Region::Us => &[
                "address.city",
                "address.line1",
                "address.postal_code",
                "address.state",
            ],
            Region::Europe => &["address.city", "address.line1", "address.postal_code"],
        }
    }
}

struct Ctx {
    region: Region,
    now: i64,
}

/// Which capabilities a requirement serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// `card_payments` and every other `*_payments` capability.
    Payments,
    /// `transfers` and every other capability.
    Transfers,
}

impl Class {
    fn of(name: &str) -> Class {
        if name == "card_payments" || name.ends_with("_payments") {
            Class::Payments
        } else {
            Class::Transfers
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Classes {
    payments: bool,
    transfers: bool,
}

impl Classes {
    fn only(class: Class) -> Classes {
        Classes {
            payments: class == Class::Payments,
            transfers: class == Class::Transfers,
        }
    }

    fn any(self) -> bool {
        self.payments || self.transfers
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Every capability.
    All,
    /// Payments capabilities only.
    Payments,
    /// Transfers (and other non-payments) capabilities only.
    Transfers,
    /// The account's own requirements only (payouts), when any capability is requested.
    Account,
}

impl Scope {
    fn selected(self, classes: Classes, account_level: bool) -> bool {
        match self {
            Scope::All => classes.any(),
            Scope::Payments => classes.payments,
            Scope::Transfers => classes.transfers,
            Scope::Account => account_level && classes.any(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Missing,
    Failed,
    Eventually,
    Pending,
}

#[derive(Debug, Clone)]
struct Item {
    path: String,
    scope: Scope,
    state: State,
    error: Option<(&'static str, String)>,
    /// (person id, path without the person prefix)
    person: Option<(String, String)>,
}

#[derive(Default)]
struct Collector {
    items: Vec<Item>,
}

impl Collector {
    fn account(&mut self, path: &str, scope: Scope, state: State) {
        self.items.push(Item {
            path: path.to_string(),
            scope,
            state,
            error: None,
            person: None,
        });
    }

    fn failed(&mut self, path: &str, scope: Scope, code: &'static str, reason: &str) {
        self.items.push(Item {
            path: path.to_string(),
            scope,
            state: State::Failed,
            error: Some((code, reason.to_string())),
            person: None,
        });
    }
}

/// Where a person's requirements go: `individual.`, `person_123.` or `representative.`.
struct Target<'a> {
    prefix: String,
    person_id: Option<&'a str>,
}

impl Target<'_> {
    fn push(&self, col: &mut Collector, suffix: &str, state: State, error: Option<&Failure>) {
        col.items.push(Item {
            path: format!("{}{}", self.prefix, suffix),
            scope: Scope::All,
            state,
            error: error.map(|f| (f.code, f.reason.clone())),
            person: self
                .person_id
                .map(|id| (id.to_string(), suffix.to_string())),
        });
    }

    fn fail(&self, col: &mut Collector, failure: &Failure) {
        self.push(col, &failure.field, State::Failed, Some(failure));
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Roles {
    individual: bool,
    representative: bool,
    owner: bool,
    director: bool,
    executive: bool,
}

impl Roles {
    fn of(person: &Value) -> Roles {
        Roles {
            individual: false,
            representative: flag(person, &["relationship", "representative"]),
            owner: flag(person, &["relationship", "owner"]),
            director: flag(person, &["relationship", "director"]),
            executive: flag(person, &["relationship", "executive"]),
        }
    }

    fn any(self) -> bool {
        self.individual || self.representative || self.owner || self.director || self.executive
    }
}

/// The fields a person owes for its roles: (path suffix, due now (else eventually)).
fn person_fields(roles: Roles, region: Region) -> Vec<(&'static str, bool)> {
    let mut fields = Vec::new();
    let full = roles.individual || roles.representative;
    if roles.any() {
        fields.push(("first_name", true));
        fields.push(("last_name", true));
    }
    if full || roles.owner {
        fields.push(("email", true));
        fields.extend(DOB_FIELDS.iter().map(|f| (*f, true)));
        fields.extend(region.address_fields().iter().map(|f| (*f, true)));
    }
    if full {
        fields.push(("phone", true));
    }
    if region == Region::Us {
        if full {
            fields.push(("ssn_last_4", true));
            fields.push(("id_number", false));
        } else if roles.owner {
            fields.push(("ssn_last_4", false));
            fields.push(("id_number", false));
        }
    }
    if roles.representative {
        fields.push(("relationship.title", true));
        if region == Region::Us {
            fields.push(("relationship.executive", true));
        }
    }
    fields
}

fn person_field_present(person: &Value, suffix: &str) -> bool {
    let path: Vec<&str> = suffix.split('.').collect();
    match suffix {
        "ssn_last_4" => {
            flag(person, &["ssn_last_4_provided"]) || flag(person, &["id_number_provided"])
        }
        "id_number" => flag(person, &["id_number_provided"]),
        "relationship.executive" => flag(person, &["relationship", "executive"]),
        _ if suffix.starts_with("dob.") => int_at(person, &path).is_some_and(|v| v > 0),
        _ => present(person, &path),
    }
}

// ------------------------------------------------------------------------------------------------
// Collecting requirements
// ------------------------------------------------------------------------------------------------

fn account_items(
    col: &mut Collector,
    ctx: &Ctx,
    account: &Value,
    persons: &[Value],
    notes: &mut Vec<String>,
) {
    let business_type = str_at(account, &["business_type"]);
    match business_type {
        None => col.account("business_type", Scope::All, State::Missing),
        Some("individual") => {
            let individual = get(account, &["individual"]).unwrap_or(&NULL);
            let target = Target {
                prefix: "individual.".to_string(),
                person_id: str_at(individual, &["id"]),
            };
            let roles = Roles {
                individual: true,
                ..Roles::default()
            };
            person_items(col, ctx, &target, individual, roles);
        }
        Some(kind) => {
            if !matches!(kind, "company" | "non_profit" | "government_entity") {
                notes.push(format!(
                    "business_type {kind} has no rules of its own in Sluice: company rules applied"
                ));
            }
            company_items(col, ctx, account, persons, kind);
        }
    }

    if !present(account, &["business_profile", "mcc"]) {
        col.account("business_profile.mcc", Scope::Payments, State::Missing);
    }
    if !present(account, &["business_profile", "url"])
        && !present(account, &["business_profile", "product_description"])
    {
        col.account("business_profile.url", Scope::All, State::Missing);
    }
    for field in ["date", "ip"] {
        if !present(account, &["tos_acceptance", field]) {
            col.account(
                &format!("tos_acceptance.{field}"),
                Scope::All,
                State::Missing,
            );
        }
    }
    if !has_external_account(account) {
        col.account("external_account", Scope::Account, State::Missing);
    }
}

fn company_items(
    col: &mut Collector,
    ctx: &Ctx,
    account: &Value,
    persons: &[Value],
    business_type: &str,
) {
    let company = get(account, &["company"]).unwrap_or(&NULL);
    for field in ctx.region.address_fields() {
        let path: Vec<&str> = field.split('.').collect();
        if !present(company, &path) {
            col.account(&format!("company.{field}"), Scope::All, State::Missing);
        }
    }
    if !present(company, &["name"]) {
        col.account("company.name", Scope::All, State::Missing);
    }
    if !present(company, &["phone"]) {
        col.account("company.phone", Scope::Payments, State::Missing);
    }
    if !flag(company, &["tax_id_provided"]) && !present(company, &["tax_id"]) {
        col.account("company.tax_id", Scope::All, State::Missing);
    }

    // Owners: not asked of entities without beneficial owners.
    let structure = str_at(company, &["structure"]).unwrap_or("");
    let ownerless = matches!(business_type, "non_profit" | "government_entity")
        || matches!(
            structure,
            "public_company"
                | "public_corporation"
                | "public_partnership"
                | "government_instrumentality"
                | "governmental_unit"
                | "tax_exempt_government_instrumentality"
                | "incorporated_non_profit"
                | "unincorporated_non_profit"
        );
    if !ownerless && !flag(company, &["owners_provided"]) {
        let owned: f64 = persons
            .iter()
            .filter(|p| flag(p, &["relationship", "owner"]))
            .filter_map(|p| number_at(p, &["relationship", "percent_ownership"]))
            .filter(|pct| pct.is_finite() && *pct > 0.0)
            .sum();
        if owned < 100.0 {
            col.account("company.owners_provided", Scope::All, State::Missing);
        }
    }

    // Directors (Europe).
    if ctx.region == Region::Europe
        && !flag(company, &["directors_provided"])
        && !persons
            .iter()
            .any(|p| flag(p, &["relationship", "director"]))
    {
        col.account("company.directors_provided", Scope::All, State::Missing);
    }

    // The representative, then everyone else with a relationship.
    let has_representative = persons
        .iter()
        .any(|p| flag(p, &["relationship", "representative"]));
    if !has_representative {
        let placeholder = Target {
            prefix: "representative.".to_string(),
            person_id: None,
        };
        let roles = Roles {
            representative: true,
            ..Roles::default()
        };
        person_items(col, ctx, &placeholder, &NULL, roles);
    }
    for person in persons {
        let roles = Roles::of(person);
        if !roles.any() {
            continue;
        }
        let id = str_at(person, &["id"]);
        let target = Target {
            prefix: format!("{}.", id.unwrap_or("person")),
            person_id: id,
        };
        person_items(col, ctx, &target, person, roles);
    }

    company_verification_items(col, ctx, company);
}

fn company_verification_items(col: &mut Collector, ctx: &Ctx, company: &Value) {
    // Tax ID: the outcome of the write-time check.
    let document = doc_state(company, "document");
    let status = str_at(company, &["tax_id_verification", "status"]);
    let details = str_at(company, &["tax_id_verification", "details_code"]);
    if document != Doc::Success {
        match status {
            Some(STATUS_PENDING) => col.account("company.tax_id", Scope::All, State::Pending),
            Some(STATUS_UNVERIFIED) => {
                let failure = match details {
                    Some(CODE_TAX_ID_NOT_ISSUED) => verify_company_tax_id("111111112"),
                    Some(CODE_TAX_ID_MATCH) => verify_company_tax_id("111111111"),
                    _ => verify_company_tax_id(""),
                };
                for (_, code, reason) in &failure.errors {
                    col.failed("company.tax_id", Scope::All, code, reason);
                    col.account("company.verification.document", Scope::All, State::Failed);
                }
            }
            _ => {}
        }
    }
    if document == Doc::Failure {
        col.failed(
            "company.verification.document",
            Scope::All,
            CODE_DOCUMENT_FAILED,
            "The company document could not be verified. Upload another document.",
        );
    }

    // Business address test tokens.
    if let Some(line1) = str_at(company, &["address", "line1"]) {
        match check_line1(line1) {
            AddressCheck::Ok => {}
            AddressCheck::NoMatch => {
                // Charges stay enabled; transfers and payouts do not.
                for scope in [Scope::Transfers, Scope::Account] {
                    col.failed(
                        "company.address.line1",
                        scope,
                        CODE_ADDRESS_MATCH,
                        "The business address could not be validated (line1). Correct it to \
                         enable payouts.",
                    );
                }
            }
            AddressCheck::Line1NoMatch => {
                for field in ctx.region.address_fields() {
                    col.failed(
                        &format!("company.{field}"),
                        Scope::All,
                        CODE_ADDRESS_MATCH,
                        "The business address could not be validated. Correct it to enable \
                         charges and payouts.",
                    );
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct Findings {
    keyed_dob: bool,
    ofac: bool,
    id: Option<IdFailure>,
    address: Option<AddressCheck>,
    document_failed: bool,
    additional_failed: bool,
}

fn person_items(col: &mut Collector, ctx: &Ctx, target: &Target, person: &Value, roles: Roles) {
    let fields = person_fields(roles, ctx.region);
    for (suffix, now) in &fields {
        if !person_field_present(person, suffix) {
            let state = if *now {
                State::Missing
            } else {
                State::Eventually
            };
            target.push(col, suffix, state, None);
        }
    }
    // Only people whose identity is asked for are verified.
    if !fields.iter().any(|(suffix, _)| suffix.starts_with("dob.")) {
        return;
    }

    let dob = dob_of(person);
    let mut dob_invalid = false;
    if let Some(dob) = dob {
        if let Some((code, reason)) = dob_validation_error(dob, ctx.now) {
            dob_invalid = true;
            for field in DOB_FIELDS {
                target.fail(col, &Failure::new(field, code, reason));
            }
        }
    }

    let status = str_at(person, &["verification", "status"]);
    let document = doc_state(person, "document");
    let additional = doc_state(person, "additional_document");
    let mut found = Findings::default();
    match document {
        Doc::Failure => found.document_failed = true,
        Doc::Success => {}
        Doc::None if status == Some(STATUS_PENDING) => {
            let mut pending: Vec<&str> = vec!["first_name", "last_name"];
            pending.extend(DOB_FIELDS);
            if flag(person, &["id_number_provided"]) {
                pending.push("id_number");
            } else if flag(person, &["ssn_last_4_provided"]) {
                pending.push("ssn_last_4");
            }
            for suffix in pending {
                if person_field_present(person, suffix) {
                    target.push(col, suffix, State::Pending, None);
                }
            }
        }
        Doc::None if status == Some(STATUS_VERIFIED) => {}
        Doc::None => {
            if let Some(dob) = dob.filter(|_| !dob_invalid) {
                match check_dob(dob) {
                    DobCheck::Verified => {}
                    DobCheck::Ofac => found.ofac = true,
                    DobCheck::Mismatch => found.keyed_dob = true,
                }
            }
            found.id = inferred_id_failure(person);
        }
    }
    let identity_settled = matches!(status, Some(STATUS_VERIFIED) | Some(STATUS_PENDING));
    let address_cleared = additional == Doc::Success
        || (ctx.region == Region::Us && document == Doc::Success)
        || identity_settled;
    if !address_cleared {
        if let Some(line1) = str_at(person, &["address", "line1"]) {
            found.address = Some(check_line1(line1));
        }
    }
    found.additional_failed = additional == Doc::Failure;

    emit_findings(col, ctx, target, person, &found);
}

fn emit_findings(col: &mut Collector, ctx: &Ctx, target: &Target, person: &Value, f: &Findings) {
    if f.keyed_dob {
        for failure in keyed_dob_failures() {
            target.fail(col, &failure);
        }
        // The next step: a US person without the full SSN gives it; anyone else a document.
        if ctx.region == Region::Us && !flag(person, &["id_number_provided"]) {
            target.push(col, "id_number", State::Failed, None);
        } else {
            target.push(col, "verification.document", State::Failed, None);
        }
    }
    if f.ofac {
        target.fail(col, &ofac_failure());
    }
    if let Some(id) = f.id {
        target.fail(col, &id.failure());
        if id == IdFailure::IdNumber {
            target.push(col, "verification.document", State::Failed, None);
        }
    }
    if let Some(check) = f.address {
        let failures = address_failures(check, ctx.region);
        for failure in &failures {
            target.fail(col, failure);
        }
        if !failures.is_empty() && ctx.region == Region::Europe {
            target.push(col, "verification.additional_document", State::Failed, None);
        }
    }
    if f.document_failed {
        target.fail(
            col,
            &Failure::new(
                "verification.document",
                CODE_DOCUMENT_FAILED,
                "The identity document could not be verified. Upload another document.",
            ),
        );
    }
    if f.additional_failed {
        target.fail(
            col,
            &Failure::new(
                "verification.additional_document",
                CODE_DOCUMENT_FAILED,
                "The proof of address could not be verified. Upload another document.",
            ),
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doc {
    None,
    Success,
    Failure,
}

/// `verification.<which>.front`: a file id, or an expanded file object.
fn doc_state(owner: &Value, which: &str) -> Doc {
    let front = get(owner, &["verification", which, "front"]);
    let id = match front {
        Some(Value::String(s)) => Some(s.trim()),
        Some(obj @ Value::Object(_)) => str_at(obj, &["id"]),
        _ => None,
    };
    match id {
        None | Some("") => Doc::None,
        Some(DOCUMENT_FAILURE) => Doc::Failure,
        Some(DOCUMENT_SUCCESS) | Some(_) => Doc::Success,
    }
}

fn has_external_account(account: &Value) -> bool {
    let listed = get(account, &["external_accounts", "data"])
        .and_then(Value::as_array)
        .is_some_and(|data| !data.is_empty());
    listed || int_at(account, &["external_accounts", "total_count"]).is_some_and(|n| n > 0)
}

fn rejected_reason(reason: &str) -> &'static str {
    let reason = reason.trim();
    match reason.strip_prefix("rejected.").unwrap_or(reason) {
        "fraud" => "rejected.fraud",
        "terms_of_service" => "rejected.terms_of_service",
        "listed" => "rejected.listed",
        _ => "rejected.other",
    }
}

// ------------------------------------------------------------------------------------------------
// Lists and their JSON
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Lists {
    currently_due: BTreeSet<String>,
    eventually_only: BTreeSet<String>,
    pending: BTreeSet<String>,
    errors: BTreeMap<(String, &'static str), String>,
    /// The subset of `currently_due` never provided (for `details_submitted`).
    missing: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Account,
    Capability,
    Person,
}

impl Lists {
    fn add(&mut self, path: &str, item: &Item) {
        match item.state {
            State::Missing => {
                self.missing.insert(path.to_string());
                self.currently_due.insert(path.to_string());
            }
            State::Failed => {
                self.currently_due.insert(path.to_string());
            }
            State::Eventually => {
                self.eventually_only.insert(path.to_string());
            }
            State::Pending => {
                self.pending.insert(path.to_string());
            }
        }
        if let Some((code, reason)) = &item.error {
            self.errors
                .entry((path.to_string(), code))
                .or_insert_with(|| reason.clone());
        }
    }

    fn disabled_reason(&self) -> Option<&'static str> {
        if !self.currently_due.is_empty() {
            Some("requirements.past_due")
        } else if !self.pending.is_empty() {
            Some("requirements.pending_verification")
        } else {
            None
        }
    }

    fn to_json(&self, shape: Shape, disabled_reason: Option<&str>) -> Value {
        let currently_due: Vec<&String> = self.currently_due.iter().collect();
        let eventually_due: Vec<&String> =
            self.currently_due.union(&self.eventually_only).collect();
        let pending: Vec<&String> = self.pending.iter().collect();
        let errors: Vec<Value> = self
            .errors
            .iter()
            .filter(|((path, _), _)| self.currently_due.contains(path))
            .map(|((path, code), reason)| {
                json!({ "code": code, "reason": reason, "requirement": path })
            })
            .collect();
        let alternatives: Vec<Value> =
            if shape != Shape::Person && self.currently_due.contains("business_profile.url") {
                vec![json!({
                    "alternative_fields_due": ["business_profile.product_description"],
                    "original_fields_due": ["business_profile.url"],
                })]
            } else {
                Vec::new()
            };
        match shape {
            Shape::Account | Shape::Capability => json!({
                "alternatives": alternatives,
                "current_deadline": null,
                "currently_due": currently_due,
                "disabled_reason": disabled_reason,
                "errors": errors,
                "eventually_due": eventually_due,
                "past_due": currently_due,
                "pending_verification": pending,
            }),
            Shape::Person => json!({
                "alternatives": alternatives,
                "currently_due": currently_due,
                "errors": errors,
                "eventually_due": eventually_due,
                "past_due": currently_due,
                "pending_verification": pending,
            }),
        }
    }
}

fn person_outcomes(
    col: &Collector,
    individual_id: Option<&str>,
    persons: &[Value],
    requested: Classes,
    rejected: bool,
) -> Vec<PersonOutcome> {
    let mut ids: Vec<&str> = individual_id.into_iter().collect();
    for person in persons {
        if let Some(id) = str_at(person, &["id"]) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids.into_iter()
        .map(|id| {
            let mut lists = Lists::default();
            if !rejected {
                for item in &col.items {
                    if let Some((person, suffix)) = &item.person {
                        if person == id && item.scope.selected(requested, false) {
                            lists.add(suffix, item);
                        }
                    }
                }
            }
            PersonOutcome {
                id: id.to_string(),
                requirements: lists.to_json(Shape::Person, None),
                future_requirements: Lists::default().to_json(Shape::Person, None),
            }
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// Reading JSON leniently
// ------------------------------------------------------------------------------------------------

static NULL: Value = Value::Null;

fn get<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter()
        .try_fold(value, |v, key| v.as_object().and_then(|map| map.get(*key)))
}

/// A non-blank string.
fn str_at<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    get(value, path)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// `true`, or the string `"true"`.
fn flag(value: &Value, path: &[&str]) -> bool {
    match get(value, path) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.trim() == "true",
        _ => false,
    }
}

fn int_at(value: &Value, path: &[&str]) -> Option<i64> {
    match get(value, path)? {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn number_at(value: &Value, path: &[&str]) -> Option<f64> {
    match get(value, path)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Provided: a non-blank string, a number, `true`, or a non-empty object or array.
fn present(value: &Value, path: &[&str]) -> bool {
    match get(value, path) {
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Number(_)) => true,
        Some(Value::Bool(b)) => *b,
        Some(Value::Object(map)) => !map.is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Null) | None => false,
    }
}

/// (day, month, year) when all three are integers.
fn dob_of(person: &Value) -> Option<(i64, i64, i64)> {
    Some((
        int_at(person, &["dob", "day"])?,
        int_at(person, &["dob", "month"])?,
        int_at(person, &["dob", "year"])?,
    ))
}

// ------------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-06-15T12:00:00Z
    const NOW: i64 = 1_718_452_800;

    fn strings(value: &Value) -> Vec<String> {
        value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn due(outcome: &Outcome) -> Vec<String> {
        strings(&outcome.requirements["currently_due"])
    }

    fn eventually(outcome: &Outcome) -> Vec<String> {
        strings(&outcome.requirements["eventually_due"])
    }

    fn errors(outcome: &Outcome) -> Vec<(String, String)> {
        outcome.requirements["errors"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|e| {
                        (
                            e["requirement"].as_str().unwrap_or("").to_string(),
                            e["code"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn has_error(outcome: &Outcome, requirement: &str, code: &str) -> bool {
        errors(outcome)
            .iter()
            .any(|(r, c)| r == requirement && c == code)
    }

    fn capability<'o>(outcome: &'o Outcome, name: &str) -> &'o CapabilityOutcome {
        outcome
            .capabilities
            .iter()
            .find(|c| c.name == name)
            .expect("capability in outcome")
    }

    fn run(account: &Value, persons: &[Value], caps: &[&str]) -> Outcome {
        evaluate(&Input {
            account,
            requested_capabilities: caps,
            persons,
            rejected_reason: None,
            now: NOW,
        })
    }

    const BOTH: &[&str] = &["card_payments", "transfers"];

    fn sorted_unique(list: &[String]) -> bool {
        list.windows(2).all(|w| w[0] < w[1])
    }

    fn assert_well_formed(outcome: &Outcome) {
        for key in [
            "alternatives",
            "currently_due",
            "errors",
            "eventually_due",
            "past_due",
            "pending_verification",
        ] {
            assert!(outcome.requirements[key].is_array(), "{key}");
            assert!(outcome.future_requirements[key].is_array(), "{key}");
        }
        assert!(outcome.requirements["current_deadline"].is_null());
        assert!(outcome.future_requirements["disabled_reason"].is_null());
        for key in [
            "currently_due",
            "eventually_due",
            "past_due",
            "pending_verification",
        ] {
            assert!(sorted_unique(&strings(&outcome.requirements[key])), "{key}");
        }
        let due = due(outcome);
        let eventually = eventually(outcome);
        assert!(due.iter().all(|d| eventually.contains(d)));
        assert_eq!(due, strings(&outcome.requirements["past_due"]));
        for (requirement, _) in errors(outcome) {
            assert!(
                due.contains(&requirement),
                "error for {requirement} not due"
            );
        }
        for cap in &outcome.capabilities {
            for key in [
                "currently_due",
                "eventually_due",
                "past_due",
                "pending_verification",
            ] {
                assert!(sorted_unique(&strings(&cap.requirements[key])));
            }
        }
    }

    fn us_individual() -> Value {
        json!({
            "id": "acct_1",
            "object": "account",
            "country": "US",
            "business_type": "individual",
            "business_profile": {"mcc": "5734", "url": "https://accessible.stripe.com"},
            "individual": {
                "id": "person_ind",
                "first_name": "Jenny",
                "last_name": "Rosen",
                "email": "jenny@example.com",
                "phone": "0000000000",
                "dob": {"day": 1, "month": 1, "year": 1901},
                "address": {
                    "line1": "address_full_match",
                    "city": "Schenectady",
                    "postal_code": "12345",
                    "state": "NY",
                    "country": "US"
                },
                "ssn_last_4_provided": true,
                "id_number_provided": false,
                "verification": {"status": "verified", "details_code": null}
            },
            "tos_acceptance": {"date": 1_547_923_073, "ip": "172.18.80.19"},
            "external_accounts": {"object": "list", "data": [{"id": "ba_1"}]},
            "controller": {"requirement_collection": "application"}
        })
    }

    fn eu_individual(country: &str) -> Value {
        json!({
            "country": country,
            "business_type": "individual",
            "business_profile": {"mcc": "5734", "product_description": "Handmade cookies"},
            "individual": {
                "first_name": "Erika",
                "last_name": "Mustermann",
                "email": "erika@example.com",
                "phone": "0000000000",
                "dob": {"day": 1, "month": 1, "year": 1901},
                "address": {"line1": "address_full_match", "city": "Berlin", "postal_code": "10115"},
                "verification": {"status": "verified"}
            },
            "tos_acceptance": {"date": 1_547_923_073, "ip": "10.0.0.1"},
            "external_accounts": {"data": [{"id": "ba_de"}]}
        })
    }

    fn us_company() -> Value {
        json!({
            "country": "US",
            "business_type": "company",
            "business_profile": {"mcc": "5045", "url": "https://bestcookieco.com"},
            "company": {
                "name": "The Best Cookie Co",
                "phone": "8888675309",
                "address": {
                    "line1": "123 State St",
                    "city": "Schenectady",
                    "postal_code": "12345",
                    "state": "NY"
                },
                "tax_id_provided": true,
                "tax_id_verification": {"status": "verified", "details_code": null},
                "owners_provided": true
            },
            "tos_acceptance": {"date": 1_547_923_073, "ip": "172.18.80.19"},
            "external_accounts": {"data": [{"id": "ba_co"}]}
        })
    }

    fn representative() -> Value {
        json!({
            "id": "person_rep",
            "object": "person",
            "first_name": "Jenny",
            "last_name": "Rosen",
            "email": "jenny@bestcookieco.com",
            "phone": "8888675309",
            "dob": {"day": 1, "month": 1, "year": 1902},
            "address": {
                "line1": "address_full_match",
                "city": "Schenectady",
                "postal_code": "12345",
                "state": "NY"
            },
            "ssn_last_4_provided": true,
            "id_number_provided": false,
            "relationship": {
                "representative": true,
                "executive": true,
                "owner": false,
                "director": false,
                "title": "CEO",
                "percent_ownership": null
            },
            "verification": {"status": "verified"}
        })
    }

    fn owner() -> Value {
        json!({
            "id": "person_own",
            "object": "person",
            "first_name": "Kathleen",
            "last_name": "Banks",
            "email": "kathleen@bestcookieco.com",
            "dob": {"day": 1, "month": 1, "year": 1901},
            "address": {
                "line1": "address_full_match",
                "city": "Albany",
                "postal_code": "12207",
                "state": "NY"
            },
            "relationship": {"owner": true, "percent_ownership": 80, "title": null},
            "verification": {"status": "verified"}
        })
    }

    fn set(value: &mut Value, path: &[&str], new: Value) {
        let mut cur = value;
        for key in &path[..path.len() - 1] {
            cur = cur
                .as_object_mut()
                .expect("object on path")
                .entry((*key).to_string())
                .or_insert_with(|| json!({}));
        }
        cur.as_object_mut()
            .expect("object at end")
            .insert(path[path.len() - 1].to_string(), new);
    }

    // -- happy paths ---------------------------------------------------------------------------

    #[test]
    fn us_individual_happy_path() {
        let account = us_individual();
        let out = run(&account, &[], BOTH);
        assert_well_formed(&out);
        assert!(due(&out).is_empty(), "{:?}", due(&out));
        assert_eq!(eventually(&out), vec!["individual.id_number"]);
        assert!(out.requirements["disabled_reason"].is_null());
        assert!(out.requirements["alternatives"]
            .as_array()
            .is_some_and(Vec::is_empty));
        assert_eq!(out.capabilities.len(), 2);
        for cap in &out.capabilities {
            assert_eq!(cap.status, "active", "{}", cap.name);
            assert!(cap.requirements["disabled_reason"].is_null());
            assert_eq!(
                strings(&cap.requirements["eventually_due"]),
                vec!["individual.id_number"]
            );
        }
        assert!(out.charges_enabled);
        assert!(out.payouts_enabled);
        assert!(out.details_submitted);
        assert!(out.notes.is_empty());
        // The individual's own person requirements, without the prefix.
        assert_eq!(out.persons.len(), 1);
        assert_eq!(out.persons[0].id, "person_ind");
        assert_eq!(
            strings(&out.persons[0].requirements["eventually_due"]),
            vec!["id_number"]
        );
        assert!(out.persons[0].requirements.get("disabled_reason").is_none());
    }

    #[test]
    fn wire_shapes() {
        let out = run(&us_individual(), &[], BOTH);
        assert_eq!(
            out.requirements,
            json!({
                "alternatives": [],
                "current_deadline": null,
                "currently_due": [],
                "disabled_reason": null,
                "errors": [],
                "eventually_due": ["individual.id_number"],
                "past_due": [],
                "pending_verification": []
            })
        );
        let empty = json!({
            "alternatives": [],
            "current_deadline": null,
            "currently_due": [],
            "disabled_reason": null,
            "errors": [],
            "eventually_due": [],
            "past_due": [],
            "pending_verification": []
        });
        assert_eq!(out.future_requirements, empty);
        for cap in &out.capabilities {
            assert_eq!(cap.future_requirements, empty);
        }
        assert_eq!(
            out.persons[0].future_requirements,
            json!({
                "alternatives": [],
                "currently_due": [],
                "errors": [],
                "eventually_due": [],
                "past_due": [],
                "pending_verification": []
            })
        );
        // Keys in Stripe's (alphabetical) order, whatever the map implementation.
        let keys: Vec<&String> = out
            .requirements
            .as_object()
            .map_or(Vec::new(), |m| m.keys().collect());
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);

        let mut account = us_individual();
        set(
            &mut account,
            &["individual", "address", "line1"],
            json!("address_line1_no_match"),
        );
        set(
            &mut account,
            &["individual", "verification", "status"],
            json!("unverified"),
        );
        let out = run(&account, &[], BOTH);
        let error = &out.requirements["errors"][0];
        assert_eq!(
            error
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>()),
            Some(vec![
                "code".to_string(),
                "reason".to_string(),
                "requirement".to_string()
            ])
        );
        assert_eq!(error["requirement"], "individual.address.line1");
        assert_eq!(error["code"], "verification_failed_address_match");
        assert!(error["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }

    #[test]
    fn us_individual_new_account_lists_everything() {
        let account = json!({"country": "US", "business_type": "individual"});
        let out = run(&account, &[], BOTH);
        assert_well_formed(&out);
        assert_eq!(
            due(&out),
            vec![
                "business_profile.mcc",
                "business_profile.url",
                "external_account",
                "individual.address.city",
                "individual.address.line1",
                "individual.address.postal_code",
                "individual.address.state",
                "individual.dob.day",
                "individual.dob.month",
                "individual.dob.year",
                "individual.email",
                "individual.first_name",
                "individual.last_name",
                "individual.phone",
                "individual.ssn_last_4",
                "tos_acceptance.date",
                "tos_acceptance.ip",
            ]
        );
        let mut expected_eventually = due(&out);
        expected_eventually.push("individual.id_number".to_string());
        expected_eventually.sort();
        assert_eq!(eventually(&out), expected_eventually);
        assert_eq!(out.requirements["disabled_reason"], "requirements.past_due");
        assert_eq!(
            out.requirements["alternatives"],
            json!([{
                "alternative_fields_due": ["business_profile.product_description"],
                "original_fields_due": ["business_profile.url"]
            }])
        );
        for cap in &out.capabilities {
            assert_eq!(cap.status, "inactive");
            assert_eq!(cap.requirements["disabled_reason"], "requirements.past_due");
            // external_account belongs to the account (payouts), not to a capability.
            assert!(
                !strings(&cap.requirements["currently_due"]).contains(&"external_account".into())
            );
        }
        let transfers = capability(&out, "transfers");
        assert!(!strings(&transfers.requirements["currently_due"])
            .contains(&"business_profile.mcc".to_string()));
        assert!(!out.charges_enabled && !out.payouts_enabled && !out.details_submitted);
    }

    #[test]
    fn no_business_type_asks_for_it() {
        let account = json!({"country": "US"});
        let out = run(&account, &[], BOTH);
        assert_well_formed(&out);
        assert!(due(&out).contains(&"business_type".to_string()));
        assert!(!due(&out).iter().any(|d| d.starts_with("individual.")));
    }

    #[test]
    fn de_individual_happy_path() {
        let account = eu_individual("DE");
        let out = run(&account, &[], BOTH);
        assert_well_formed(&out);
        assert!(due(&out).is_empty(), "{:?}", due(&out));
        assert!(eventually(&out).is_empty());
        assert!(out.charges_enabled && out.payouts_enabled && out.details_submitted);
        assert!(out.notes.is_empty());
    }

    #[test]
    fn eu_individuals_owe_no_state_and_no_ssn() {
        for country in ["DE", "FR"] {
            let account = json!({"country": country, "business_type": "individual"});
            let out = run(&account, &[], BOTH);
            assert_well_formed(&out);
            let due = due(&out);
            assert!(due.contains(&"individual.address.line1".to_string()));
            assert!(due.contains(&"individual.phone".to_string()));
            assert!(due.contains(&"individual.email".to_string()));
            assert!(!due.iter().any(|d| d.contains("state") || d.contains("ssn")));
            assert!(!eventually(&out).iter().any(|d| d.contains("id_number")));
        }
    }

    #[test]
    fn us_company_with_representative_and_owner() {
        let account = us_company();
        let persons = vec![representative(), owner()];
        let out = run(&account, &persons, BOTH);
        assert_well_formed(&out);
        assert!(due(&out).is_empty(), "{:?}", due(&out));
        assert_eq!(
            eventually(&out),
            vec![
                "person_own.id_number",
                "person_own.ssn_last_4",
                "person_rep.id_number"
            ]
        );
        assert!(out.charges_enabled && out.payouts_enabled && out.details_submitted);
        let ids: Vec<&str> = out.persons.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, vec!["person_rep", "person_own"]);
        assert_eq!(
            strings(&out.persons[1].requirements["eventually_due"]),
            vec!["id_number", "ssn_last_4"]
        );
    }

    #[test]
    fn us_company_without_persons_asks_for_a_representative() {
        let mut account = us_company();
        set(&mut account, &["company", "owners_provided"], json!(false));
        let out = run(&account, &[], BOTH);
        assert_well_formed(&out);
        assert_eq!(
            due(&out),
            vec![
                "company.owners_provided",
                "representative.address.city",
                "representative.address.line1",
                "representative.address.postal_code",
                "representative.address.state",
                "representative.dob.day",
                "representative.dob.month",
                "representative.dob.year",
                "representative.email",
                "representative.first_name",
                "representative.last_name",
                "representative.phone",
                "representative.relationship.executive",
                "representative.relationship.title",
                "representative.ssn_last_4",
            ]
        );
        assert!(eventually(&out).contains(&"representative.id_number".to_string()));
    }

    #[test]
    fn new_person_representative_fields_use_the_person_id() {
        let mut account = us_company();
        set(&mut account, &["company", "owners_provided"], json!(false));
        // As in Stripe's walk-through: the representative is created with names and a title.
        let rep = json!({
            "id": "person_new",
            "first_name": "Jenny",
            "last_name": "Rosen",
            "relationship": {"representative": true, "title": "CEO"}
        });
        let owner = json!({
            "id": "person_kb",
            "first_name": "Kathleen",
            "last_name": "Banks",
            "email": "kathleen@bestcookieco.com",
            "relationship": {"owner": true, "percent_ownership": 80}
        });
        let out = run(&account, &[rep, owner], BOTH);
        assert_well_formed(&out);
        let due = due(&out);
        for expected in [
            "company.owners_provided",
            "person_new.address.city",
            "person_new.dob.day",
            "person_new.email",
            "person_new.phone",
            "person_new.relationship.executive",
            "person_new.ssn_last_4",
            "person_kb.dob.year",
            "person_kb.address.line1",
        ] {
            assert!(due.contains(&expected.to_string()), "{expected}: {due:?}");
        }
        assert!(!due.iter().any(|d| d.starts_with("representative.")));
        assert!(!due.contains(&"person_new.relationship.title".to_string()));
        assert!(!due.contains(&"person_new.first_name".to_string()));
        // The owner does not owe a phone or an SSN now.
        assert!(!due.contains(&"person_kb.phone".to_string()));
        assert!(!due.contains(&"person_kb.ssn_last_4".to_string()));
        let rep_out = &out.persons[0];
        assert!(strings(&rep_out.requirements["currently_due"]).contains(&"dob.day".to_string()));
    }

    #[test]
    fn owners_adding_up_to_100_percent_need_no_flag() {
        let mut account = us_company();
        set(&mut account, &["company", "owners_provided"], json!(false));
        let mut own = owner();
        set(&mut own, &["relationship", "percent_ownership"], json!(100));
        let out = run(&account, &[representative(), own], BOTH);
        assert!(!due(&out).contains(&"company.owners_provided".to_string()));
        // ... but 80 percent does.
        let out = run(&account, &[representative(), owner()], BOTH);
        assert!(due(&out).contains(&"company.owners_provided".to_string()));
    }

    #[test]
    fn non_profit_owes_no_owners_and_eu_company_owes_directors() {
        let mut account = us_company();
        set(&mut account, &["business_type"], json!("non_profit"));
        set(&mut account, &["company", "owners_provided"], json!(false));
        let out = run(&account, &[representative()], BOTH);
        assert!(due(&out).is_empty(), "{:?}", due(&out));
        assert!(out.notes.is_empty());

        let mut de = us_company();
        set(&mut de, &["country"], json!("DE"));
        let mut rep = representative();
        set(&mut rep, &["address", "state"], Value::Null);
        let out = run(&de, &[rep.clone()], BOTH);
        assert_eq!(due(&out), vec!["company.directors_provided"]);
        set(&mut de, &["company", "directors_provided"], json!(true));
        let out = run(&de, &[rep], BOTH);
        assert!(due(&out).is_empty(), "{:?}", due(&out));
        // No SSN or executive flag in Europe.
        assert!(eventually(&out).is_empty());
    }

    // -- verify_identity -----------------------------------------------------------------------

    fn submission(dob: (i64, i64, i64)) -> IdentitySubmission<'static> {
        IdentitySubmission {
            dob: Some(dob),
            address_line1: Some("address_full_match"),
            id_number: None,
            ssn_last_4: Some("0000"),
        }
    }

    #[test]
    fn verify_identity_test_dates_of_birth() {
        for dob in [(1, 1, 1901), (1, 1, 1902)] {
            let r = verify_identity(&submission(dob));
            assert_eq!(r.status, "verified");
            assert_eq!(r.details_code, None);
            assert!(r.errors.is_empty());
        }
        let ofac = verify_identity(&submission((1, 1, 1900)));
        assert_eq!(ofac.status, "unverified");
        assert_eq!(ofac.details_code, Some("failed_other"));
        assert_eq!(ofac.errors.len(), 1);
        assert_eq!(ofac.errors[0].0, "verification.document");
        assert_eq!(ofac.errors[0].1, "verification_failed_other");

        let other = verify_identity(&submission((10, 11, 1980)));
        assert_eq!(other.status, "unverified");
        assert_eq!(other.details_code, Some("failed_keyed_identity"));
        let fields: Vec<&str> = other.errors.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(fields, vec!["dob.day", "dob.month", "dob.year"]);
        assert!(other
            .errors
            .iter()
            .all(|e| e.1 == "verification_failed_keyed_identity" && !e.2.is_empty()));
    }

    #[test]
    fn verify_identity_test_addresses() {
        let mut s = submission((1, 1, 1901));
        s.address_line1 = Some("address_no_match");
        let r = verify_identity(&s);
        assert_eq!(r.status, "unverified");
        assert!(r
            .errors
            .iter()
            .all(|e| e.1 == "verification_failed_address_match"));
        assert!(r.errors.iter().any(|e| e.0 == "address.line1"));
        assert!(r.errors.iter().any(|e| e.0 == "address.city"));

        s.address_line1 = Some("address_line1_no_match");
        let r = verify_identity(&s);
        assert_eq!(r.status, "unverified");
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].0, "address.line1");
        assert_eq!(r.details_code, Some("failed_other"));

        s.address_line1 = Some("123 Main St");
        assert_eq!(verify_identity(&s).status, "verified");
    }

    #[test]
    fn verify_identity_test_id_numbers() {
        let mut s = submission((1, 1, 1901));
        for ok in ["000000000", "222222222", "000-00-0000", "123456789"] {
            s.id_number = Some(ok);
            assert_eq!(verify_identity(&s).status, "verified", "{ok}");
        }
        s.id_number = Some("111111111");
        let r = verify_identity(&s);
        assert_eq!(r.status, "unverified");
        assert_eq!(r.details_code, Some("failed_keyed_identity"));
        assert_eq!(
            r.errors
                .iter()
                .map(|e| (e.0.as_str(), e.1))
                .collect::<Vec<_>>(),
            vec![("id_number", "verification_failed_id_number_match")]
        );

        s.id_number = None;
        s.ssn_last_4 = Some("0000");
        assert_eq!(verify_identity(&s).status, "verified");
        s.ssn_last_4 = Some("1111");
        let r = verify_identity(&s);
        assert_eq!(r.status, "unverified");
        assert_eq!(r.errors[0].0, "id_number");
        assert_eq!(r.errors[0].1, "verification_failed_keyed_identity");
    }

    #[test]
    fn verify_identity_missing_pieces_do_not_fail() {
        let r = verify_identity(&IdentitySubmission::default());
        assert_eq!(r.status, "unverified");
        assert_eq!(r.details_code, None);
        assert!(r.errors.is_empty());
        let r = verify_identity(&IdentitySubmission {
            dob: Some((1, 1, 1901)),
            ..IdentitySubmission::default()
        });
        assert_eq!(r.status, "verified");
        // A failing value fails at once, even with the date of birth still missing.
        let r = verify_identity(&IdentitySubmission {
            id_number: Some("111111111"),
            ..IdentitySubmission::default()
        });
        assert_eq!(r.status, "unverified");
        assert_eq!(r.errors.len(), 1);
    }

    #[test]
    fn verify_company_tax_id_test_values() {
        for ok in ["000000000", "000000001", "222222222", "12-3456789"] {
            let r = verify_company_tax_id(ok);
            assert_eq!(r.status, "verified", "{ok}");
            assert!(r.errors.is_empty());
        }
        let r = verify_company_tax_id("111111111");
        assert_eq!(r.status, "unverified");
        assert_eq!(r.details_code, Some("verification_failed_tax_id_match"));
        assert_eq!(r.errors[0].0, "tax_id");
        let r = verify_company_tax_id("111111112");
        assert_eq!(
            r.details_code,
            Some("verification_failed_tax_id_not_issued")
        );
        assert_eq!(r.errors[0].1, "verification_failed_tax_id_not_issued");
        let r = verify_company_tax_id("  ");
        assert_eq!(r.status, "unverified");
        assert!(r.errors.is_empty());
    }

    // -- failures seen through evaluate --------------------------------------------------------

    /// A US individual after a write that verified `sub` (the way a write path stores it).
    fn us_individual_after(
        dob: (i64, i64, i64),
        line1: &str,
        id: Option<&str>,
        ssn: Option<&str>,
    ) -> Value {
        let mut account = us_individual();
        set(
            &mut account,
            &["individual", "dob"],
            json!({"day": dob.0, "month": dob.1, "year": dob.2}),
        );
        set(
            &mut account,
            &["individual", "address", "line1"],
            json!(line1),
        );
        set(
            &mut account,
            &["individual", "id_number_provided"],
            json!(id.is_some()),
        );
        set(
            &mut account,
            &["individual", "ssn_last_4_provided"],
            json!(ssn.is_some()),
        );
        let individual = account["individual"].clone();
        let result = verify_person(&individual, None, id, ssn);
        let mut verification = account["individual"]["verification"].clone();
        apply_verification(&mut verification, &result);
        set(&mut account, &["individual", "verification"], verification);
        account
    }

    #[test]
    fn failed_dob_asks_for_dob_again_and_the_full_ssn() {
        let account = us_individual_after((10, 11, 1980), "address_full_match", None, Some("0000"));
        assert_eq!(
            account["individual"]["verification"]["status"],
            "unverified"
        );
        let out = run(&account, &[], BOTH);
        assert_well_formed(&out);
        assert_eq!(
            due(&out),
            vec![
                "individual.dob.day",
                "individual.dob.month",
                "individual.dob.year",
                "individual.id_number"
            ]
        );
        assert!(has_error(
            &out,
            "individual.dob.day",
            "verification_failed_keyed_identity"
        ));
        assert_eq!(errors(&out).len(), 3);
        assert_eq!(out.requirements["disabled_reason"], "requirements.past_due");
        assert!(!out.charges_enabled && !out.payouts_enabled);
        assert!(out.capabilities.iter().all(|c| c.status == "inactive"));
        // The details were submitted; they only failed.
        assert!(out.details_submitted);
        let person = &out.persons[0].requirements;
        assert_eq!(person["errors"][0]["requirement"], "dob.day");

        // With the full SSN already given, the next step is a document.
        let account = us_individual_after(
            (10, 11, 1980),
            "address_full_match",
            Some("000000000"),
            None,
        );
        let out = run(&account, &[], BOTH);
        assert!(due(&out).contains(&"individual.verification.document".to_string()));
        assert!(!due(&out).contains(&"individual.id_number".to_string()));
    }

    #[test]
    fn ofac_dob_asks_for_a_document() {
        let account = us_individual_after((1, 1, 1900), "address_full_match", None, Some("0000"));
        let out = run(&account, &[], BOTH);
        assert_well_formed(&out);
        assert_eq!(due(&out), vec!["individual.verification.document"]);
        assert!(has_error(
            &out,
            "individual.verification.document",
            "verification_failed_other"
        ));
        assert_eq!(
            account["individual"]["verification"]["details_code"],
            "failed_other"
        );
    }

    #[test]
    fn address_failures() {
        let account = us_individual_after((1, 1, 1901), "address_no_match", None, Some("0000"));
        let out = run(&account, &[], BOTH);
        assert_well_formed(&out);
        assert_eq!(
            due(&out),
            vec![
                "individual.address.city",
                "individual.address.line1",
                "individual.address.postal_code",
                "individual.address.state"
            ]
        );
        assert!(errors(&out)
            .iter()
            .all(|(_, code)| code == "verification_failed_address_match"));

        let account =
            us_individual_after((1, 1, 1901), "address_line1_no_match", None, Some("0000"));
        let out = run(&account, &[], BOTH);
        assert_eq!(due(&out), vec!["individual.address.line1"]);
        assert!(has_error(
            &out,
            "individual.address.line1",
            "verification_failed_address_match"
        ));

        // Europe: a proof of address is asked for as well, and it settles the failure.
        let mut de = eu_individual("DE");
        set(
            &mut de,
            &["individual", "address", "line1"],
            json!("address_no_match"),
        );
        set(
            &mut de,
            &["individual", "verification", "status"],
            json!("unverified"),
        );
        let out = run(&de, &[], BOTH);
        assert_eq!(
            due(&out),
            vec![
                "individual.address.city",
                "individual.address.line1",
                "individual.address.postal_code",
                "individual.verification.additional_document"
            ]
        );
        set(
            &mut de,
            &["individual", "verification", "additional_document"],
            json!({"front": "file_identity_document_success", "back": null}),
        );
        let out = run(&de, &[], BOTH);
        assert!(due(&out).is_empty(), "{:?}", due(&out));
    }

    #[test]
    fn id_number_failure_asks_for_it_again_and_a_document() {
        let account =
            us_individual_after((1, 1, 1901), "address_full_match", Some("111111111"), None);
        assert_eq!(
            account["individual"]["verification"]["details_code"],
            "failed_keyed_identity"
        );
        let out = run(&account, &[], BOTH);
        assert_well_formed(&out);
        assert_eq!(
            due(&out),
            vec!["individual.id_number", "individual.verification.document"]
        );
        assert!(has_error(
            &out,
            "individual.id_number",
            "verification_failed_id_number_match"
        ));

        // A later write that does not resend the number keeps the failure ...
        let before = account["individual"].clone();
        let mut after = before.clone();
        set(&mut after, &["phone"], json!("5555555555"));
        let kept = verify_person(&after, Some(&before), None, None);
        assert_eq!(kept.status, "unverified");
        assert_eq!(kept.errors[0].1, "verification_failed_id_number_match");
        // ... and a good number clears it.
        let fixed = verify_person(&after, Some(&before), Some("000000000"), None);
        assert_eq!(fixed.status, "verified");
        let mut account = account;
        let mut verification = account["individual"]["verification"].clone();
        apply_verification(&mut verification, &fixed);
        set(&mut account, &["individual", "verification"], verification);
        let out = run(&account, &[], BOTH);
        assert!(due(&out).is_empty(), "{:?}", due(&out));
        assert!(out.charges_enabled);
    }

    #[test]
    fn ssn_last_4_failure_asks_for_the_full_number() {
        let account = us_individual_after((1, 1, 1901), "address_full_match", None, Some("1111"));
        let out = run(&account, &[], BOTH);
        assert_well_formed(&out);
        assert_eq!(due(&out), vec!["individual.id_number"]);
        assert!(has_error(
            &out,
            "individual.id_number",
            "verification_failed_keyed_identity"
        ));
    }

    #[test]
    fn identity_documents_take_precedence() {
        let mut account =
            us_individual_after((10, 11, 1980), "address_full_match", None, Some("0000"));
        set(
            &mut account,
            &["individual", "verification", "document"],
            json!({"front": "file_identity_document_success", "back": null}),
        );
        let out = run(&account, &[], BOTH);
        assert!(due(&out).is_empty(), "{:?}", due(&out));
        assert!(out.charges_enabled);

        let mut account = us_individual();
        set(
            &mut account,
            &["individual", "verification", "document"],
            json!({"front": {"id": "file_identity_document_failure", "object": "file"}}),
        );
        let out = run(&account, &[], BOTH);
        assert_eq!(due(&out), vec!["individual.verification.document"]);
        assert!(has_error(
            &out,
            "individual.verification.document",
            "verification_document_failed_other"
        ));
    }

    #[test]
    fn age_rules() {
        let mut account = us_individual();
        set(
            &mut account,
            &["individual", "dob"],
            json!({"day": 1, "month": 1, "year": 2015}),
        );
        let out = run(&account, &[], BOTH);
        assert!(has_error(
            &out,
            "individual.dob.year",
            "invalid_dob_age_under_minimum"
        ));
        set(
            &mut account,
            &["individual", "dob"],
            json!({"day": 1, "month": 1, "year": 1850}),
        );
        let out = run(&account, &[], BOTH);
        assert!(has_error(
            &out,
            "individual.dob.day",
            "invalid_dob_age_over_maximum"
        ));
        set(
            &mut account,
            &["individual", "dob"],
            json!({"day": 31, "month": 2, "year": 1980}),
        );
        let out = run(&account, &[], BOTH);
        assert!(has_error(
            &out,
            "individual.dob.month",
            "invalid_value_other"
        ));
        // 13 years old today: allowed.
        set(
            &mut account,
            &["individual", "dob"],
            json!({"day": 15, "month": 6, "year": 2011}),
        );
        let out = run(&account, &[], BOTH);
        assert!(!errors(&out)
            .iter()
            .any(|(_, c)| c.starts_with("invalid_dob")));
    }

    #[test]
    fn company_tax_id_failures() {
        for (value, code) in [
            ("111111111", "verification_failed_tax_id_match"),
            ("111111112", "verification_failed_tax_id_not_issued"),
        ] {
            let mut account = us_company();
            let result = verify_company_tax_id(value);
            set(
                &mut account,
                &["company", "tax_id_verification"],
                tax_id_verification_value(&result),
            );
            let out = run(&account, &[representative(), owner()], BOTH);
            assert_well_formed(&out);
            assert_eq!(
                due(&out),
                vec!["company.tax_id", "company.verification.document"]
            );
            assert!(has_error(&out, "company.tax_id", code));
            assert!(!out.charges_enabled);
            // A company document settles it.
            set(
                &mut account,
                &["company", "verification"],
                json!({"document": {"front": "file_identity_document_success"}}),
            );
            let out = run(&account, &[representative(), owner()], BOTH);
            assert!(due(&out).is_empty(), "{:?}", due(&out));
        }
        let mut account = us_company();
        set(
            &mut account,
            &["company", "tax_id_verification"],
            tax_id_verification_value(&verify_company_tax_id("222222222")),
        );
        let out = run(&account, &[representative(), owner()], BOTH);
        assert!(due(&out).is_empty());
    }

    #[test]
    fn company_address_tokens() {
        let mut account = us_company();
        set(
            &mut account,
            &["company", "address", "line1"],
            json!("address_no_match"),
        );
        let out = run(&account, &[representative(), owner()], BOTH);
        assert_well_formed(&out);
        assert_eq!(due(&out), vec!["company.address.line1"]);
        assert_eq!(capability(&out, "card_payments").status, "active");
        assert_eq!(capability(&out, "transfers").status, "inactive");
        assert!(out.charges_enabled);
        assert!(!out.payouts_enabled);
        assert_eq!(
            strings(&capability(&out, "transfers").requirements["currently_due"]),
            vec!["company.address.line1"]
        );
        let out = run(&account, &[representative(), owner()], &["card_payments"]);
        assert!(out.charges_enabled && !out.payouts_enabled);
        assert_eq!(due(&out), vec!["company.address.line1"]);

        set(
            &mut account,
            &["company", "address", "line1"],
            json!("address_line1_no_match"),
        );
        let out = run(&account, &[representative(), owner()], BOTH);
        assert_eq!(due(&out).len(), 4);
        assert!(!out.charges_enabled && !out.payouts_enabled);
    }

    #[test]
    fn person_failure_uses_the_person_prefix() {
        let account = us_company();
        let mut rep = representative();
        set(
            &mut rep,
            &["dob"],
            json!({"day": 10, "month": 11, "year": 1980}),
        );
        let result = verify_person(&rep, None, None, Some("0000"));
        let mut verification = rep["verification"].clone();
        apply_verification(&mut verification, &result);
        set(&mut rep, &["verification"], verification);
        let out = run(&account, &[rep, owner()], BOTH);
        assert_well_formed(&out);
        assert_eq!(
            due(&out),
            vec![
                "person_rep.dob.day",
                "person_rep.dob.month",
                "person_rep.dob.year",
                "person_rep.id_number"
            ]
        );
        assert!(has_error(
            &out,
            "person_rep.dob.day",
            "verification_failed_keyed_identity"
        ));
        assert_eq!(
            out.persons[0].requirements["errors"]
                .as_array()
                .map(Vec::len),
            Some(3)
        );
        assert!(strings(&out.persons[1].requirements["currently_due"]).is_empty());
    }

    // -- pending, rejection, capabilities --------------------------------------------------------

    #[test]
    fn pending_verification() {
        let mut account = us_individual();
        set(
            &mut account,
            &["individual", "verification", "status"],
            json!("pending"),
        );
        let out = run(&account, &[], BOTH);
        assert_well_formed(&out);
        assert!(due(&out).is_empty());
        assert_eq!(
            strings(&out.requirements["pending_verification"]),
            vec![
                "individual.dob.day",
                "individual.dob.month",
                "individual.dob.year",
                "individual.first_name",
                "individual.last_name",
                "individual.ssn_last_4"
            ]
        );
        assert_eq!(
            out.requirements["disabled_reason"],
            "requirements.pending_verification"
        );
        assert!(out.capabilities.iter().all(|c| c.status == "pending"));
        assert!(!out.charges_enabled && !out.payouts_enabled);
        assert!(out.details_submitted);
    }

    #[test]
    fn rejection() {
        for (reason, expected) in [
            ("fraud", "rejected.fraud"),
            ("terms_of_service", "rejected.terms_of_service"),
            ("other", "rejected.other"),
            ("something else", "rejected.other"),
        ] {
            let account = us_individual();
            let out = evaluate(&Input {
                account: &account,
                requested_capabilities: BOTH,
                persons: &[],
                rejected_reason: Some(reason),
                now: NOW,
            });
            assert_well_formed(&out);
            assert_eq!(out.requirements["disabled_reason"], expected);
            assert!(due(&out).is_empty() && eventually(&out).is_empty());
            assert!(out
                .capabilities
                .iter()
                .all(|c| c.status == "inactive" && c.requirements["disabled_reason"] == expected));
            assert!(!out.charges_enabled && !out.payouts_enabled);
        }
    }

    #[test]
    fn removing_a_capability_removes_its_requirements() {
        let mut account = us_individual();
        set(&mut account, &["business_profile", "mcc"], Value::Null);
        let out = run(&account, &[], BOTH);
        assert_eq!(due(&out), vec!["business_profile.mcc"]);
        assert_eq!(capability(&out, "card_payments").status, "inactive");
        assert_eq!(capability(&out, "transfers").status, "active");
        assert!(!out.charges_enabled);
        assert!(
            out.payouts_enabled,
            "transfers is active and a bank account exists"
        );

        let out = run(&account, &[], &["transfers"]);
        assert!(due(&out).is_empty());
        assert_eq!(out.capabilities.len(), 1);
        assert_eq!(out.capabilities[0].name, "transfers");
        assert_eq!(out.capabilities[0].status, "active");
        assert!(!out.charges_enabled, "card_payments is not requested");
        assert!(out.payouts_enabled);

        let out = run(&account, &[], &[]);
        assert_well_formed(&out);
        assert!(due(&out).is_empty() && eventually(&out).is_empty());
        assert!(out.capabilities.is_empty());
        assert!(out.requirements["disabled_reason"].is_null());
        assert!(!out.charges_enabled && !out.payouts_enabled);
        assert!(!out.details_submitted);
    }

    #[test]
    fn other_payment_capabilities_follow_card_payments() {
        let mut account = us_individual();
        set(&mut account, &["business_profile", "mcc"], Value::Null);
        let out = run(
            &account,
            &[],
            &["us_bank_account_ach_payments", "transfers", "transfers"],
        );
        assert_eq!(out.capabilities.len(), 2);
        assert_eq!(
            capability(&out, "us_bank_account_ach_payments").status,
            "inactive"
        );
        assert_eq!(capability(&out, "transfers").status, "active");
    }

    #[test]
    fn payouts_need_an_external_account() {
        let mut account = us_individual();
        set(&mut account, &["external_accounts", "data"], json!([]));
        let out = run(&account, &[], BOTH);
        assert_eq!(due(&out), vec!["external_account"]);
        assert!(out.charges_enabled);
        assert!(!out.payouts_enabled);
        assert!(!out.details_submitted);
        assert!(out.capabilities.iter().all(|c| c.status == "active"));
        assert_eq!(out.requirements["disabled_reason"], "requirements.past_due");
    }

    #[test]
    fn details_submitted_is_sticky() {
        let mut account = json!({"country": "US", "business_type": "individual"});
        assert!(!run(&account, &[], BOTH).details_submitted);
        set(&mut account, &["details_submitted"], json!(true));
        assert!(run(&account, &[], BOTH).details_submitted);
    }

    #[test]
    fn stripe_collected_accounts_use_the_same_rules() {
        let mut account = us_individual();
        set(
            &mut account,
            &["controller", "requirement_collection"],
            json!("stripe"),
        );
        let out = run(&account, &[], BOTH);
        assert!(due(&out).is_empty());
        set(&mut account, &["tos_acceptance"], Value::Null);
        let out = run(&account, &[], BOTH);
        assert_eq!(due(&out), vec!["tos_acceptance.date", "tos_acceptance.ip"]);
    }

    #[test]
    fn unknown_country_uses_us_rules_with_a_note() {
        let account = json!({"country": "ZZ", "business_type": "individual"});
        let out = run(&account, &[], BOTH);
        assert_eq!(out.notes.len(), 1);
        assert!(due(&out).contains(&"individual.address.state".to_string()));
        assert!(due(&out).contains(&"individual.ssn_last_4".to_string()));
        let account = json!({"business_type": "individual"});
        assert_eq!(run(&account, &[], BOTH).notes.len(), 1);
        let account = json!({"country": "fr", "business_type": "individual"});
        let out = run(&account, &[], BOTH);
        assert!(out.notes.is_empty());
        assert!(!due(&out).iter().any(|d| d.contains("state")));
    }

    // -- odd input ---------------------------------------------------------------------------------

    #[test]
    fn odd_input_never_panics() {
        let odd = [
            Value::Null,
            json!([]),
            json!("acct"),
            json!(42),
            json!({"country": 1, "business_type": ["x"], "individual": "y"}),
            json!({
                "country": "US",
                "business_type": "individual",
                "individual": {
                    "dob": {"day": "1", "month": 1.0, "year": i64::MAX},
                    "address": {"line1": 7},
                    "verification": {"status": ["verified"], "document": {"front": 3}},
                    "ssn_last_4_provided": "true"
                },
                "external_accounts": {"data": {}, "total_count": "x"},
                "tos_acceptance": {"date": null, "ip": false}
            }),
            json!({
                "country": "DE",
                "business_type": "company",
                "company": {"address": [], "tax_id_verification": "bad", "owners_provided": 1},
                "details_submitted": "nope"
            }),
            json!({
                "country": "US",
                "business_type": "individual",
                "individual": {"dob": {"day": i64::MIN, "month": i64::MIN, "year": i64::MIN}}
            }),
        ];
        let persons = vec![
            Value::Null,
            json!({"relationship": "x"}),
            json!({"id": 5, "relationship": {"representative": true, "percent_ownership": "abc"}}),
            json!({"id": "person_x", "relationship": {"owner": true, "percent_ownership": 1e308}}),
            json!({"id": "person_x", "relationship": {"owner": true, "percent_ownership": -3}}),
        ];
        for account in &odd {
            for now in [i64::MIN, -1, 0, NOW, i64::MAX] {
                let out = evaluate(&Input {
                    account,
                    requested_capabilities: &["card_payments", "", " transfers ", "weird"],
                    persons: &persons,
                    rejected_reason: None,
                    now,
                });
                assert_well_formed(&out);
            }
        }
        let mut not_an_object = json!("x");
        apply_verification(
            &mut not_an_object,
            &verify_identity(&IdentitySubmission::default()),
        );
        assert_eq!(not_an_object["status"], "unverified");
        let _ = verify_identity(&IdentitySubmission {
            dob: Some((i64::MAX, i64::MIN, 0)),
            address_line1: Some(""),
            id_number: Some(""),
            ssn_last_4: Some("\u{0}"),
        });
        let _ = verify_person(&Value::Null, Some(&json!([1])), None, None);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_unix(0), (1970, 1, 1));
        assert_eq!(civil_from_unix(NOW), (2024, 6, 15));
        assert_eq!(civil_from_unix(951_782_400), (2000, 2, 29));
        assert_eq!(civil_from_unix(-86_400), (1969, 12, 31));
    }
}
