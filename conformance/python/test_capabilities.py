"""Capabilities: /v1/accounts/{id}/capabilities[/{name}] and account.capabilities."""

from __future__ import annotations

import pytest
import stripe

from helpers import business_profile, capability_statuses, create_custom_account, expect_error, tos, us_individual, wait_for
from openapi_check import check

STATUSES = {"active", "inactive", "pending", "unrequested", "disabled"}


def caps_by_id(acct_id: str) -> dict:
    lst = stripe.Account.list_capabilities(acct_id)
    check(lst)
    assert lst.object == "list"
    assert lst.url == "/v1/accounts/%s/capabilities" % acct_id
    return {c.id: c for c in lst.data}


def test_requested_on_create_are_listed():
    a = create_custom_account(capabilities=("card_payments", "transfers"))
    assert set(capability_statuses(a)) >= {"card_payments", "transfers"}
    # nothing submitted yet: requested but not active
    assert a.capabilities["card_payments"] in ("inactive", "pending")
    assert a.capabilities["transfers"] in ("inactive", "pending")

    caps = caps_by_id(a.id)
    for name in ("card_payments", "transfers"):
        c = caps[name]
        assert c.object == "capability"
        assert c.account == a.id
        assert c.requested is True
        assert isinstance(c.requested_at, int)
        assert c.status in ("inactive", "pending")
        assert c.status == a.capabilities[name]
        assert c.requirements.currently_due, "a fresh account has requirements for %s" % name
    # anything else listed must be unrequested
    for name, c in caps.items():
        assert c.status in STATUSES
        if name not in ("card_payments", "transfers"):
            assert c.requested is False and c.status == "unrequested", (name, c.status)
            assert c.requested_at is None


def test_retrieve_capability():
    a = create_custom_account()
    c = stripe.Account.retrieve_capability(a.id, "card_payments")
    check(c)
    assert c.id == "card_payments"
    assert c.object == "capability"
    assert c.account == a.id
    assert c.requested is True
    assert c.status == a.capabilities["card_payments"]
    req = c.requirements
    for k in ("currently_due", "eventually_due", "past_due", "pending_verification", "errors"):
        assert isinstance(req[k], list), k


def test_retrieve_unknown_capability_is_404():
    a = create_custom_account()
    expect_error(
        stripe.InvalidRequestError,
        stripe.Account.retrieve_capability,
        a.id,
        "teleportation_payments",
        status=404,
        code="resource_missing",
    )


def test_request_capability_later_via_capability_endpoint():
    a = create_custom_account(capabilities=("transfers",))
    assert capability_statuses(a).get("card_payments") in (None, "unrequested")
    before = stripe.Account.retrieve_capability(a.id, "card_payments")
    assert before.requested is False and before.status == "unrequested"

    c = stripe.Account.modify_capability(a.id, "card_payments", requested=True)
    check(c)
    assert c.requested is True
    assert isinstance(c.requested_at, int)
    assert c.status in ("inactive", "pending")
    got = stripe.Account.retrieve(a.id)
    assert got.capabilities["card_payments"] == c.status


def test_request_capability_via_account_update():
    a = create_custom_account(capabilities=("transfers",))
    u = stripe.Account.modify(a.id, capabilities={"card_payments": {"requested": True}})
    check(u)
    assert u.capabilities["card_payments"] in ("inactive", "pending")
    assert stripe.Account.retrieve_capability(a.id, "card_payments").requested is True


def test_unrequest_capability():
    a = create_custom_account(capabilities=("card_payments", "transfers"))
    c = stripe.Account.modify_capability(a.id, "card_payments", requested=False)
    check(c)
    assert c.requested is False
    assert c.status == "unrequested"
    got = stripe.Account.retrieve(a.id)
    assert capability_statuses(got).get("card_payments") in (None, "unrequested")
    assert got.capabilities["transfers"] in ("inactive", "pending")


def test_capability_update_rejects_bad_boolean():
    a = create_custom_account(capabilities=("transfers",))
    expect_error(
        stripe.InvalidRequestError,
        stripe.Account.modify_capability,
        a.id,
        "card_payments",
        requested="perhaps",
        status=400,
        param="requested",
    )
    assert stripe.Account.retrieve_capability(a.id, "card_payments").requested is False


def test_capabilities_become_active_when_requirements_met():
    a = create_custom_account(
        business_profile=business_profile(),
        individual=us_individual(),
        tos_acceptance=tos(),
        external_account="btok_us_verified",
    )

    def all_active(acct):
        caps = capability_statuses(acct)
        return caps.get("card_payments") == "active" and caps.get("transfers") == "active"

    got = wait_for(lambda: stripe.Account.retrieve(a.id), all_active)
    check(got)
    assert got.capabilities["card_payments"] == "active"
    assert got.capabilities["transfers"] == "active"
    caps = caps_by_id(a.id)
    for name in ("card_payments", "transfers"):
        assert caps[name].status == "active"
        assert caps[name].requirements.currently_due == []
        assert caps[name].requirements.disabled_reason is None


@pytest.mark.parametrize("expand", [["account"]])
def test_capability_expand_account(expand):
    a = create_custom_account()
    c = stripe.Account.retrieve_capability(a.id, "transfers", expand=expand)
    check(c)
    assert c.account.object == "account"
    assert c.account.id == a.id
    # expansion applies to that response only
    plain = stripe.Account.retrieve_capability(a.id, "transfers")
    assert plain.account == a.id


def test_capability_list_expand_data_account():
    a = create_custom_account()
    lst = stripe.Account.list_capabilities(a.id, expand=["data.account"])
    check(lst)
    assert lst.data
    for c in lst.data:
        assert c.account.object == "account" and c.account.id == a.id
