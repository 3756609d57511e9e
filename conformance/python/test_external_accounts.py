"""External accounts: /v1/accounts/{id}/external_accounts (bank accounts and debit cards)."""

from __future__ import annotations

import pytest
import stripe

from helpers import create_custom_account, expect_error
from openapi_check import check

RAW_BANK = {
    "object": "bank_account",
    "country": "US",
    "currency": "usd",
    "routing_number": "110000000",
    "account_number": "000123456789",
    "account_holder_name": "Jenny Rosen",
    "account_holder_type": "individual",
}


@pytest.fixture
def acct():
    return create_custom_account("US", "individual")


def ext_ids(acct_id: str, **params) -> list[str]:
    lst = stripe.Account.list_external_accounts(acct_id, **params)
    check(lst)
    return [x.id for x in lst.data]


def test_create_with_bank_token(acct):
    ba = stripe.Account.create_external_account(acct.id, external_account="btok_us_verified")
    check(ba)
    assert ba.id.startswith("ba_")
    assert ba.object == "bank_account"
    assert ba.account == acct.id
    assert ba.country == "US"
    assert ba.currency == "usd"
    assert ba.last4 == "6789"
    assert ba.routing_number == "110000000"
    assert ba.bank_name == "STRIPE TEST BANK"
    assert ba.default_for_currency is True  # first one for usd
    assert isinstance(ba.fingerprint, str) and ba.fingerprint
    assert "account_number" not in ba


def test_create_with_raw_bank_details(acct):
    first = stripe.Account.create_external_account(acct.id, external_account="btok_us_verified")
    ba = stripe.Account.create_external_account(acct.id, external_account=RAW_BANK)
    check(ba)
    assert ba.object == "bank_account"
    assert ba.last4 == "6789"
    assert ba.routing_number == "110000000"
    assert ba.account_holder_name == "Jenny Rosen"
    assert ba.account_holder_type == "individual"
    assert ba.default_for_currency is False  # usd already has a default
    # same bank account number -> same fingerprint
    assert ba.fingerprint == first.fingerprint


def test_create_debit_card(acct):
    stripe.Account.create_external_account(acct.id, external_account="btok_us_verified")
    card = stripe.Account.create_external_account(acct.id, external_account="tok_visa_debit")
    check(card)
    assert card.id.startswith("card_")
    assert card.object == "card"
    assert card.account == acct.id
    assert card.brand == "Visa"
    assert card.last4 == "5556"
    assert card.funding == "debit"
    assert card.currency == "usd"
    assert isinstance(card.exp_month, int) and isinstance(card.exp_year, int)
    assert card.default_for_currency is False


def test_list_and_filter_by_object(acct):
    ba1 = stripe.Account.create_external_account(acct.id, external_account="btok_us_verified")
    ba2 = stripe.Account.create_external_account(acct.id, external_account=RAW_BANK)
    card = stripe.Account.create_external_account(acct.id, external_account="tok_visa_debit")

    lst = stripe.Account.list_external_accounts(acct.id)
    check(lst)
    assert lst.object == "list"
    assert lst.url == "/v1/accounts/%s/external_accounts" % acct.id
    assert set(x.id for x in lst.data) == {ba1.id, ba2.id, card.id}
    assert lst.has_more is False

    assert set(ext_ids(acct.id, object="bank_account")) == {ba1.id, ba2.id}
    assert ext_ids(acct.id, object="card") == [card.id]

    page = stripe.Account.list_external_accounts(acct.id, limit=2)
    check(page)
    assert len(page.data) == 2 and page.has_more is True
    rest = stripe.Account.list_external_accounts(acct.id, limit=2, starting_after=page.data[-1].id)
    assert len(rest.data) == 1 and rest.has_more is False
    assert {x.id for x in page.data} | {rest.data[0].id} == {ba1.id, ba2.id, card.id}


def test_retrieve(acct):
    ba = stripe.Account.create_external_account(acct.id, external_account="btok_us_verified")
    got = stripe.Account.retrieve_external_account(acct.id, ba.id)
    check(got)
    assert got.to_dict() == ba.to_dict()


def test_update_default_for_currency_and_metadata(acct):
    ba1 = stripe.Account.create_external_account(acct.id, external_account="btok_us_verified")
    ba2 = stripe.Account.create_external_account(acct.id, external_account=RAW_BANK)
    u = stripe.Account.modify_external_account(
        acct.id, ba2.id, default_for_currency=True, metadata={"nick": "savings"}, account_holder_name="J. Rosen"
    )
    check(u)
    assert u.default_for_currency is True
    assert u.metadata.to_dict() == {"nick": "savings"}
    assert u.account_holder_name == "J. Rosen"
    # only one default per currency
    assert stripe.Account.retrieve_external_account(acct.id, ba1.id).default_for_currency is False


def test_cannot_delete_default_external_account(acct):
    ba = stripe.Account.create_external_account(acct.id, external_account="btok_us_verified")
    expect_error(
        stripe.InvalidRequestError,
        stripe.Account.delete_external_account,
        acct.id,
        ba.id,
        status=400,
        message_contains="default",
    )
    assert ext_ids(acct.id) == [ba.id]
    assert stripe.Account.retrieve_external_account(acct.id, ba.id).default_for_currency is True


def test_delete_non_default(acct):
    ba1 = stripe.Account.create_external_account(acct.id, external_account="btok_us_verified")
    ba2 = stripe.Account.create_external_account(acct.id, external_account=RAW_BANK)
    d = stripe.Account.delete_external_account(acct.id, ba2.id)
    check(d)
    assert d.id == ba2.id and d.object == "bank_account" and d.deleted is True
    assert ext_ids(acct.id) == [ba1.id]
    expect_error(
        stripe.InvalidRequestError,
        stripe.Account.retrieve_external_account,
        acct.id,
        ba2.id,
        status=404,
        code="resource_missing",
    )


def test_account_external_accounts_nested_list(acct):
    ba = stripe.Account.create_external_account(acct.id, external_account="btok_us_verified")
    card = stripe.Account.create_external_account(acct.id, external_account="tok_visa_debit")
    a = stripe.Account.retrieve(acct.id)
    check(a)
    ea = a.external_accounts
    assert ea.object == "list"
    assert ea.url == "/v1/accounts/%s/external_accounts" % acct.id
    assert {x.id for x in ea.data} == {ba.id, card.id}
    assert {x.object for x in ea.data} == {"bank_account", "card"}


def test_external_account_on_account_create():
    a = create_custom_account("US", "individual", external_account="btok_us_verified")
    assert len(a.external_accounts.data) == 1
    ba = a.external_accounts.data[0]
    assert ba.object == "bank_account" and ba.last4 == "6789" and ba.default_for_currency is True


def test_unknown_token_is_rejected(acct):
    e = expect_error(
        stripe.InvalidRequestError,
        stripe.Account.create_external_account,
        acct.id,
        external_account="btok_doesnotexist",
        code="resource_missing",
        param="external_account",
    )
    assert e.http_status in (400, 404)
    assert ext_ids(acct.id) == []


def test_missing_external_account_parameter(acct):
    expect_error(
        stripe.InvalidRequestError,
        stripe.Account.create_external_account,
        acct.id,
        status=400,
        code="parameter_missing",
        param="external_account",
    )
    assert ext_ids(acct.id) == []


def test_expand_account_on_create_response_only(acct):
    ba = stripe.Account.create_external_account(acct.id, external_account="btok_us_verified", expand=["account"])
    check(ba)
    assert ba.account.object == "account" and ba.account.id == acct.id
    assert stripe.Account.retrieve_external_account(acct.id, ba.id).account == acct.id
    lst = stripe.Account.list_external_accounts(acct.id, expand=["data.account"])
    check(lst)
    assert lst.data[0].account.id == acct.id
