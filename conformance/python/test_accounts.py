"""Connected accounts: /v1/accounts, /v1/account, controller properties, reject."""

from __future__ import annotations

import time

import pytest
import stripe

from helpers import (
    as_dict,
    TEST_URL,
    business_profile,
    create_custom_account,
    expect_error,
    newest_account_ids,
    tos,
    us_individual,
    wait_for,
)
from openapi_check import check

# Stripe docs, "Migrate to controller properties" + "Fee behavior on connected accounts":
# each legacy type maps to a set of controller properties. application_custom /
# application_express are the fee payers assigned to accounts created with type=custom/express.
LEGACY_TYPES = {
    "standard": {
        "stripe_dashboard": "full",
        "fees_payer": "account",
        "losses_payments": "stripe",
        "requirement_collection": "stripe",
    },
    "express": {
        "stripe_dashboard": "express",
        "fees_payer": "application_express",
        "losses_payments": "application",
        "requirement_collection": "stripe",
    },
    "custom": {
        "stripe_dashboard": "none",
        "fees_payer": "application_custom",
        "losses_payments": "application",
        "requirement_collection": "application",
    },
}

# Fields Stripe always returns on an account whose requirements the platform collects (Custom).
CUSTOM_ACCOUNT_FIELDS = {
    "id", "object", "business_profile", "business_type", "capabilities", "charges_enabled",
    "controller", "country", "created", "default_currency", "details_submitted", "email",
    "external_accounts", "future_requirements", "metadata", "payouts_enabled", "requirements",
    "settings", "tos_acceptance", "type",
}


def controller_of(acct) -> dict:
    c = acct.controller
    return {
        "stripe_dashboard": c.stripe_dashboard.type,
        "fees_payer": c.fees.payer,
        "losses_payments": c.losses.payments,
        "requirement_collection": c.requirement_collection,
    }


def create_by_type(t: str, **extra) -> stripe.Account:
    params = {"type": t, "country": "US", "email": "owner-%s@example.com" % t}
    if t in ("express", "custom"):
        params["capabilities"] = {"card_payments": {"requested": True}, "transfers": {"requested": True}}
    params.update(extra)
    a = stripe.Account.create(**params)
    check(a)
    return a


@pytest.mark.parametrize("acct_type", ["standard", "express", "custom"])
def test_create_by_legacy_type_sets_controller(acct_type):
    a = create_by_type(acct_type)
    assert a.id.startswith("acct_")
    assert a.object == "account"
    assert a.type == acct_type
    assert a.country == "US"
    assert a.default_currency == "usd"
    assert a.email == "owner-%s@example.com" % acct_type
    assert a.controller.type == "application"  # created by this platform through the API
    assert a.controller.is_controller is True
    assert controller_of(a) == LEGACY_TYPES[acct_type]
    assert a.charges_enabled is False
    assert a.payouts_enabled is False
    assert a.details_submitted is False
    assert isinstance(a.created, int) and abs(a.created - time.time()) < 300
    # "Default value is false for Custom accounts, otherwise true."
    assert a.settings.payouts.debit_negative_balances is (acct_type != "custom")
    got = stripe.Account.retrieve(a.id)
    check(got)
    assert got.type == acct_type
    assert controller_of(got) == LEGACY_TYPES[acct_type]


def test_custom_account_returns_all_fields():
    a = create_by_type("custom")
    missing = CUSTOM_ACCOUNT_FIELDS - set(as_dict(a))
    assert not missing, "custom account lacks %s" % sorted(missing)
    assert a.external_accounts.object == "list"
    assert a.external_accounts.url == "/v1/accounts/%s/external_accounts" % a.id
    assert a.external_accounts.data == []
    assert a.metadata.to_dict() == {}
    assert a.settings.payouts.schedule.interval == "daily"
    assert isinstance(a.settings.payouts.schedule.delay_days, int)
    assert as_dict(a.tos_acceptance).get("date") is None


CONTROLLER_CASES = [
    # (controller params, expected legacy `type`)
    (
        {"stripe_dashboard": "none", "fees_payer": "application", "losses_payments": "application", "requirement_collection": "application"},
        "custom",
    ),
    (
        {"stripe_dashboard": "express", "fees_payer": "application", "losses_payments": "application", "requirement_collection": "stripe"},
        "express",
    ),
    (
        {"stripe_dashboard": "full", "fees_payer": "account", "losses_payments": "stripe", "requirement_collection": "stripe"},
        "standard",
    ),
    (
        {"stripe_dashboard": "none", "fees_payer": "application", "losses_payments": "application", "requirement_collection": "stripe"},
        "none",
    ),
]


@pytest.mark.parametrize("ctrl,expected_type", CONTROLLER_CASES, ids=[c[1] for c in CONTROLLER_CASES])
def test_create_with_controller_properties(ctrl, expected_type):
    a = stripe.Account.create(
        country="US",
        controller={
            "stripe_dashboard": {"type": ctrl["stripe_dashboard"]},
            "fees": {"payer": ctrl["fees_payer"]},
            "losses": {"payments": ctrl["losses_payments"]},
            "requirement_collection": ctrl["requirement_collection"],
        },
        capabilities={"card_payments": {"requested": True}, "transfers": {"requested": True}},
    )
    check(a)
    # the controller is reported exactly as requested ("application", not application_custom)
    assert controller_of(a) == ctrl
    assert a.controller.type == "application"
    assert a.controller.is_controller is True
    assert a.type == expected_type
    got = stripe.Account.retrieve(a.id)
    check(got)
    assert controller_of(got) == ctrl and got.type == expected_type


def test_controller_invalid_combination_is_rejected():
    before = newest_account_ids()
    # requirement_collection=application is only possible without a Stripe dashboard
    expect_error(
        stripe.InvalidRequestError,
        stripe.Account.create,
        country="US",
        controller={
            "stripe_dashboard": {"type": "full"},
            "fees": {"payer": "account"},
            "losses": {"payments": "stripe"},
            "requirement_collection": "application",
        },
        status=400,
    )
    assert newest_account_ids() == before


def test_invalid_type_is_rejected():
    before = newest_account_ids()
    expect_error(stripe.InvalidRequestError, stripe.Account.create, type="bogus", country="US", status=400, param="type")
    assert newest_account_ids() == before


def test_update_business_profile_settings_metadata_tos():
    a = create_custom_account()
    u = stripe.Account.modify(
        a.id,
        email="shop@example.com",
        business_profile={
            "name": "Sluice Shop",
            "url": TEST_URL,
            "mcc": "5734",
            "support_email": "support@example.com",
            "product_description": "Test goods",
        },
        settings={
            "payouts": {
                "schedule": {"interval": "weekly", "weekly_anchor": "friday", "delay_days": 7},
                "debit_negative_balances": True,
                "statement_descriptor": "SLUICE PAYOUT",
            },
            "payments": {"statement_descriptor": "SLUICE TEST"},
        },
        metadata={"seller": "42"},
        tos_acceptance={"date": 1700000000, "ip": "192.0.2.1", "user_agent": "conformance"},
    )
    check(u)
    assert u.email == "shop@example.com"
    bp = u.business_profile
    assert (bp.name, bp.url, bp.mcc, bp.support_email, bp.product_description) == (
        "Sluice Shop", TEST_URL, "5734", "support@example.com", "Test goods",
    )
    sched = u.settings.payouts.schedule
    assert (sched.interval, sched.weekly_anchor, sched.delay_days) == ("weekly", "friday", 7)
    assert u.settings.payouts.debit_negative_balances is True
    assert u.settings.payouts.statement_descriptor == "SLUICE PAYOUT"
    assert u.settings.payments.statement_descriptor == "SLUICE TEST"
    assert u.metadata.to_dict() == {"seller": "42"}
    assert u.tos_acceptance.date == 1700000000
    assert u.tos_acceptance.ip == "192.0.2.1"
    assert u.tos_acceptance.user_agent == "conformance"

    got = stripe.Account.retrieve(a.id)
    check(got)
    assert got.settings.payouts.schedule.interval == "weekly"
    assert got.business_profile.name == "Sluice Shop"

    # later updates merge: metadata merges, other settings survive
    u2 = stripe.Account.modify(
        a.id,
        metadata={"seller": "", "region": "eu"},
        settings={"payouts": {"schedule": {"interval": "monthly", "monthly_anchor": 15}, "debit_negative_balances": False}},
    )
    check(u2)
    assert u2.metadata.to_dict() == {"region": "eu"}
    sched = u2.settings.payouts.schedule
    assert sched.interval == "monthly" and sched.monthly_anchor == 15
    assert as_dict(sched).get("weekly_anchor") is None  # only shown for weekly
    assert u2.settings.payouts.debit_negative_balances is False
    assert u2.settings.payments.statement_descriptor == "SLUICE TEST"
    assert u2.business_profile.mcc == "5734"

    u3 = stripe.Account.modify(a.id, settings={"payouts": {"schedule": {"interval": "manual"}}})
    check(u3)
    assert u3.settings.payouts.schedule.interval == "manual"


def test_update_bad_schedule_value_changes_nothing():
    a = create_custom_account()
    expect_error(
        stripe.InvalidRequestError,
        stripe.Account.modify,
        a.id,
        settings={"payouts": {"schedule": {"interval": "hourly"}}},
        status=400,
    )
    got = stripe.Account.retrieve(a.id)
    assert got.settings.payouts.schedule.interval == "daily"


def test_list_accounts_pagination():
    a = [create_custom_account(metadata={"i": str(i)}).id for i in range(3)]  # a[2] newest
    page = stripe.Account.list(limit=2)
    check(page)
    assert page.object == "list" and page.url == "/v1/accounts"
    assert [x.id for x in page.data] == [a[2], a[1]]
    assert page.has_more is True
    nxt = stripe.Account.list(limit=1, starting_after=a[1])
    check(nxt)
    assert [x.id for x in nxt.data] == [a[0]]
    prev = stripe.Account.list(limit=1, ending_before=a[1])
    check(prev)
    assert [x.id for x in prev.data] == [a[2]]
    assert prev.has_more is False
    since = stripe.Account.list(created={"gte": stripe.Account.retrieve(a[0]).created}, limit=100)
    check(since)
    ids = [x.id for x in since.data]
    assert ids[:3] == [a[2], a[1], a[0]]


def test_platform_account_via_get_account():
    me = stripe.Account.retrieve()  # GET /v1/account
    check(me)
    assert me.object == "account"
    assert me.id.startswith("acct_")
    # the platform is not one of its own connected accounts
    connected = stripe.Account.list(limit=100)
    assert me.id not in [x.id for x in connected.data]


def test_get_account_with_stripe_account_header_returns_connected_account(client):
    a = create_custom_account()
    got = stripe.Account.retrieve(stripe_account=a.id)
    check(got)
    assert got.id == a.id
    got2 = client.v1.accounts.retrieve_current(options={"stripe_account": a.id})
    check(got2)
    assert got2.id == a.id
    me = client.v1.accounts.retrieve_current()
    assert me.id != a.id


def test_delete_account():
    a = create_custom_account()
    d = stripe.Account.delete(a.id)
    check(d)
    assert d.to_dict() == {"id": a.id, "object": "account", "deleted": True}
    assert a.id not in newest_account_ids(10)
    with pytest.raises((stripe.InvalidRequestError, stripe.PermissionError)) as ei:
        stripe.Account.retrieve(a.id)
    assert ei.value.http_status in (403, 404)


def test_delete_unknown_account():
    with pytest.raises((stripe.InvalidRequestError, stripe.PermissionError)) as ei:
        stripe.Account.delete("acct_doesnotexist000")
    assert ei.value.http_status in (403, 404)


@pytest.mark.parametrize("reason", ["fraud", "terms_of_service", "other"])
def test_reject_account(reason):
    a = create_custom_account()
    r = stripe.Account.reject(a.id, reason=reason)
    check(r)
    assert r.id == a.id
    assert r.charges_enabled is False
    assert r.payouts_enabled is False
    assert r.requirements.disabled_reason == "rejected." + reason
    got = stripe.Account.retrieve(a.id)
    assert got.requirements.disabled_reason == "rejected." + reason


def test_reject_onboarded_account_disables_it():
    a = create_custom_account(
        business_profile=business_profile(),
        individual=us_individual(),
        tos_acceptance=tos(),
        external_account="btok_us_verified",
    )
    a = wait_for(lambda: stripe.Account.retrieve(a.id), lambda x: x.charges_enabled and x.payouts_enabled)
    assert a.charges_enabled and a.payouts_enabled, "precondition: fully onboarded account"
    r = stripe.Account.reject(a.id, reason="fraud")
    check(r)
    assert (r.charges_enabled, r.payouts_enabled) == (False, False)
    assert r.requirements.disabled_reason == "rejected.fraud"
    caps = stripe.Account.list_capabilities(a.id)
    assert all(c.status != "active" for c in caps.data)


def test_reject_requires_valid_reason():
    a = create_custom_account()
    expect_error(stripe.InvalidRequestError, stripe.Account.reject, a.id, status=400, code="parameter_missing", param="reason")
    expect_error(stripe.InvalidRequestError, stripe.Account.reject, a.id, reason="boredom", status=400, param="reason")
    got = stripe.Account.retrieve(a.id)
    assert got.requirements.disabled_reason != "rejected.other"
    assert not (got.requirements.disabled_reason or "").startswith("rejected.")
