"""The requirements engine seen through the API (Stripe's test-mode verification values).

Stripe verifies some test values asynchronously, so end states are polled for a few seconds.
Requirement lists are compared as sets (Stripe does not promise an order).
"""

from __future__ import annotations

import pytest
import stripe

from helpers import (
    TEST_URL,
    business_profile,
    create_custom_account,
    dob,
    fr_address,
    requirements_of,
    tos,
    us_address,
    us_individual,
    wait_for,
)
from openapi_check import check

US_INDIVIDUAL_DUE = {
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
    "tos_acceptance.date",
    "tos_acceptance.ip",
}
US_SSN_FIELDS = {"individual.ssn_last_4", "individual.id_number"}

FR_INDIVIDUAL_DUE = {
    "business_profile.mcc",
    "external_account",
    "individual.address.city",
    "individual.address.line1",
    "individual.address.postal_code",
    "individual.dob.day",
    "individual.dob.month",
    "individual.dob.year",
    "individual.email",
    "individual.first_name",
    "individual.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
}

US_COMPANY_DUE = {
    "business_profile.mcc",
    "business_profile.url",
    "company.address.city",
    "company.address.line1",
    "company.address.postal_code",
    "company.address.state",
    "company.name",
    "company.phone",
    "company.tax_id",
    "external_account",
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
    "representative.relationship.title",
    "tos_acceptance.date",
    "tos_acceptance.ip",
}

# Stripe's verification failure codes (account_requirements_error.code)
VERIFICATION_FAILURE_CODES = {
    "verification_failed_keyed_identity",
    "verification_failed_keyed_match",
    "verification_failed_id_number_match",
    "verification_failed_address_match",
    "verification_failed_residential_address",
    "verification_failed_name_match",
    "verification_failed_other",
    "verification_failed_document_match",
}

FR_IBAN = "FR1420041010050500013M02606"  # Stripe's test IBAN (FR), payouts succeed


def due(acct) -> set[str]:
    return set(requirements_of(acct).get("currently_due") or [])


def fully_enabled(acct) -> bool:
    return bool(acct.charges_enabled and acct.payouts_enabled and not due(acct))


def assert_fully_enabled(acct, capabilities=("card_payments", "transfers")):
    check(acct)
    req = requirements_of(acct)
    assert req.get("currently_due") == [], "still due: %s" % req.get("currently_due")
    assert req.get("past_due") == [], req.get("past_due")
    assert req.get("errors") == [], req.get("errors")
    assert req.get("disabled_reason") is None, req.get("disabled_reason")
    assert acct.details_submitted is True
    assert acct.charges_enabled is True
    assert acct.payouts_enabled is True
    for cap in capabilities:
        assert acct.capabilities[cap] == "active", (cap, acct.capabilities[cap])


def test_us_individual_initial_requirements():
    a = create_custom_account("US", "individual")
    got = due(a)
    missing = US_INDIVIDUAL_DUE - got
    assert not missing, "not in currently_due: %s (got %s)" % (sorted(missing), sorted(got))
    assert got & US_SSN_FIELDS, "SSN (ssn_last_4 or id_number) must be due: %s" % sorted(got)
    req = requirements_of(a)
    # everything currently due is also eventually due
    assert due(a) <= set(req["eventually_due"])
    assert req["disabled_reason"] is not None
    assert a.charges_enabled is False and a.payouts_enabled is False
    assert a.details_submitted is False
    assert a.capabilities["card_payments"] in ("inactive", "pending")


def test_us_individual_partial_update_leaves_rest_due():
    a = create_custom_account("US", "individual")
    u = stripe.Account.modify(a.id, individual=us_individual())
    check(u)
    left = due(u)
    assert not any(f.startswith("individual.") for f in left), sorted(left)
    assert {"external_account", "tos_acceptance.date", "tos_acceptance.ip", "business_profile.mcc"} <= left
    assert u.charges_enabled is False
    assert u.individual.first_name == "Jenny"
    assert u.individual.dob.to_dict() == {"day": 1, "month": 1, "year": 1901}
    assert u.individual.id_number_provided is True
    assert "id_number" not in u.individual  # never echoed back


def test_us_individual_complete_via_update():
    a = create_custom_account("US", "individual")
    stripe.Account.modify(
        a.id,
        business_profile=business_profile(),
        individual=us_individual(),
        tos_acceptance=tos(),
        external_account="btok_us_verified",
    )
    got = wait_for(lambda: stripe.Account.retrieve(a.id), fully_enabled)
    assert_fully_enabled(got)
    assert got.individual.verification.status == "verified"
    assert got.external_accounts.data[0].object == "bank_account"


def test_us_individual_complete_at_creation_immediate_dob():
    # 1902-01-01: "successful, immediately" -- no waiting needed, but polling is harmless
    a = create_custom_account(
        "US",
        "individual",
        business_profile=business_profile(),
        individual=us_individual(dob=dob(1902, 1, 1)),
        tos_acceptance=tos(),
        external_account="btok_us_verified",
    )
    got = wait_for(lambda: stripe.Account.retrieve(a.id), fully_enabled, timeout=5)
    assert_fully_enabled(got)


FAILURES = {
    "dob": {"dob": dob(1970, 5, 17)},
    "id_number": {"id_number": "111111111"},
    "address": {"address": us_address("address_no_match")},
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_us_individual_verification_failures(case):
    a = create_custom_account(
        "US",
        "individual",
        business_profile=business_profile(),
        individual=us_individual(**FAILURES[case]),
        tos_acceptance=tos(),
        external_account="btok_us_verified",
    )

    def has_errors(acct):
        return bool(requirements_of(acct).get("errors"))

    got = wait_for(lambda: stripe.Account.retrieve(a.id), has_errors)
    check(got)
    req = requirements_of(got)
    errors = req.get("errors") or []
    assert errors, "verification of %s must fail: %s" % (case, req)
    for e in errors:
        assert set(e) >= {"code", "reason", "requirement"}, e
        assert isinstance(e["reason"], str) and e["reason"]
    failing = [e for e in errors if e["code"] in VERIFICATION_FAILURE_CODES]
    assert failing, "no verification_failed_* code in %s" % errors
    # the failing field is due again
    assert any(e["requirement"] in req["currently_due"] for e in failing), (errors, req["currently_due"])
    assert all(e["requirement"].startswith("individual.") for e in failing), failing
    if case == "address":
        assert any(
            e["code"] in ("verification_failed_address_match", "verification_failed_residential_address")
            or "address" in e["requirement"]
            for e in failing
        ), failing
    assert got.charges_enabled is False
    assert got.capabilities["card_payments"] != "active"
    assert got.individual.verification.status != "verified"


def test_failed_verification_recovers_after_fix():
    a = create_custom_account(
        "US",
        "individual",
        business_profile=business_profile(),
        individual=us_individual(id_number="111111111"),
        tos_acceptance=tos(),
        external_account="btok_us_verified",
    )
    wait_for(lambda: stripe.Account.retrieve(a.id), lambda x: bool(requirements_of(x).get("errors")))
    stripe.Account.modify(a.id, individual={"id_number": "000000000", "dob": dob()})
    got = wait_for(lambda: stripe.Account.retrieve(a.id), fully_enabled)
    assert_fully_enabled(got)


def test_fr_individual_requirements_and_completion():
    a = create_custom_account("FR", "individual")
    assert a.default_currency == "eur"
    got = due(a)
    missing = FR_INDIVIDUAL_DUE - got
    assert not missing, "not in currently_due: %s (got %s)" % (sorted(missing), sorted(got))
    # US-only fields are not asked of a French individual
    assert not got & {"individual.ssn_last_4", "individual.address.state"}, sorted(got)

    stripe.Account.modify(
        a.id,
        business_profile={"mcc": "5734", "url": TEST_URL, "product_description": "Test goods"},
        individual={
            "first_name": "Jeanne",
            "last_name": "Dupont",
            "email": "jeanne@example.com",
            "phone": "+33612345678",
            "dob": dob(),
            "address": fr_address(),
        },
        tos_acceptance=tos(),
        external_account={
            "object": "bank_account",
            "country": "FR",
            "currency": "eur",
            "account_number": FR_IBAN,
        },
    )
    done = wait_for(lambda: stripe.Account.retrieve(a.id), fully_enabled)
    assert_fully_enabled(done)
    ba = done.external_accounts.data[0]
    assert ba.country == "FR" and ba.currency == "eur" and ba.last4 == FR_IBAN[-4:]


def test_us_company_requirements_with_persons():
    a = create_custom_account("US", "company")
    got = due(a)
    missing = US_COMPANY_DUE - got
    assert not missing, "not in currently_due: %s (got %s)" % (sorted(missing), sorted(got))
    assert any(f.startswith("owners.") or f == "company.owners_provided" for f in got), sorted(got)
    assert not any(f.startswith("individual.") for f in got), sorted(got)

    stripe.Account.modify(
        a.id,
        business_profile=business_profile(),
        company={
            "name": "Sluice Test Co",
            "phone": "0000000000",
            "tax_id": "000000000",
            "address": us_address(),
        },
        tos_acceptance=tos(),
        external_account="btok_us_verified",
    )

    # a representative with only a name: the person's own fields become due, keyed by person id
    rep = stripe.Account.create_person(
        a.id,
        first_name="Jane",
        last_name="Founder",
        relationship={"representative": True, "executive": True, "title": "CEO", "owner": True, "percent_ownership": 100},
    )
    check(rep)
    mid = stripe.Account.retrieve(a.id)
    mid_due = due(mid)
    assert not any(f.startswith("representative.first_name") for f in mid_due), sorted(mid_due)
    for field in ("dob.day", "email", "address.line1"):
        assert "%s.%s" % (rep.id, field) in mid_due, (field, sorted(mid_due))
    assert "dob.day" in rep.requirements.currently_due

    rep = stripe.Account.modify_person(
        a.id,
        rep.id,
        email="jane@example.com",
        phone="0000000000",
        dob=dob(),
        address=us_address(),
        id_number="000000000",
    )
    check(rep)
    assert rep.requirements.currently_due == []
    stripe.Account.modify(a.id, company={"owners_provided": True, "executives_provided": True, "directors_provided": True})

    done = wait_for(lambda: stripe.Account.retrieve(a.id), fully_enabled)
    assert_fully_enabled(done)
    assert done.company.owners_provided is True
    assert done.company.tax_id_provided is True
    assert done.company.name == "Sluice Test Co"


def test_requirements_hash_shape_on_capability_and_account():
    a = create_custom_account("US", "individual")
    req = requirements_of(a)
    for k in ("currently_due", "eventually_due", "past_due", "pending_verification", "errors"):
        assert isinstance(req.get(k), list), k
    assert "current_deadline" in req
    cap = stripe.Account.retrieve_capability(a.id, "card_payments")
    cap_due = set(cap.requirements.currently_due)
    # every field a capability needs now is also due on the account
    assert cap_due <= due(a), sorted(cap_due - due(a))
