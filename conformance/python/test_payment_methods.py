"""PaymentMethods: /v1/payment_methods and /v1/customers/{customer}/payment_methods, through
stripe-python both ways (global and StripeClient), with Stripe's test cards (CONVENTIONS.md 11)."""

from __future__ import annotations

import time

import pytest
import stripe

from helpers import expect_error, raw
from openapi_check import check

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}


def new_customer(email: str) -> stripe.Customer:
    c = stripe.Customer.create(email=email, name="PaymentMethod buyer")
    check(c)
    return c


def test_create_card_payment_method_shape(uid):
    pm = stripe.PaymentMethod.create(
        type="card",
        card=CARD,
        billing_details={
            "name": "Jenny Rosen",
            "email": "jenny@example.com",
            "address": {"line1": "510 Townsend St", "postal_code": "94103", "country": "US"},
        },
        metadata={"uid": uid},
    )
    check(pm)
    assert pm.last_response.code == 200
    assert pm.id.startswith("pm_")
    assert pm.object == "payment_method"
    assert pm.type == "card"
    assert pm.livemode is False
    assert pm.customer is None
    assert pm.allow_redisplay == "unspecified"
    assert isinstance(pm.created, int) and abs(pm.created - time.time()) < 300
    assert pm.metadata.to_dict() == {"uid": uid}
    card = pm.card
    assert card.brand == "visa"
    assert card.last4 == "4242"
    assert (card.exp_month, card.exp_year) == (12, 2034)
    assert card.funding == "credit"
    assert card.country == "US"
    assert isinstance(card.fingerprint, str) and len(card.fingerprint) == 16
    assert card.checks.cvc_check == "unchecked"
    assert card.checks.address_line1_check == "unchecked"
    assert card.checks.address_postal_code_check == "unchecked"
    assert card.networks.available == ["visa"]
    assert card.three_d_secure_usage.supported is True
    assert card.wallet is None
    bd = pm.billing_details
    assert bd.name == "Jenny Rosen" and bd.email == "jenny@example.com" and bd.phone is None
    assert bd.address.to_dict() == {
        "city": None,
        "country": "US",
        "line1": "510 Townsend St",
        "line2": None,
        "postal_code": "94103",
        "state": None,
    }
    # Never the number, never the CVC, nothing private.
    text = str(pm.to_dict())
    assert "4242424242424242" not in text and "_sluice" not in text

    got = stripe.PaymentMethod.retrieve(pm.id)
    check(got)
    assert got.to_dict() == pm.to_dict()


def test_create_from_token_and_client_style(client):
    pm = client.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_mastercard_debit"}})
    check(pm)
    assert pm.card.brand == "mastercard" and pm.card.funding == "debit" and pm.card.last4 == "8210"
    got = client.v1.payment_methods.retrieve(pm.id)
    check(got)
    assert got.id == pm.id


@pytest.mark.parametrize(
    "card, code, param",
    [
        (dict(CARD, number="4242424242424241"), "incorrect_number", "card[number]"),
        (dict(CARD, exp_month=13), "invalid_expiry_month", "card[exp_month]"),
        (dict(CARD, exp_year=2001), "invalid_expiry_year", "card[exp_year]"),
        (dict(CARD, cvc="99"), "invalid_cvc", "card[cvc]"),
    ],
)
def test_invalid_card_details_are_card_errors(card, code, param):
    e = expect_error(
        stripe.CardError,
        stripe.PaymentMethod.create,
        type="card",
        card=card,
        status=402,
        type_="card_error",
        code=code,
        param=param,
    )
    assert e.code == code


def test_missing_and_unknown_parameters():
    expect_error(
        stripe.InvalidRequestError,
        stripe.PaymentMethod.create,
        type="card",
        card={"exp_month": 12, "exp_year": 2034},
        status=400,
        code="parameter_missing",
        param="card[number]",
    )
    expect_error(
        stripe.InvalidRequestError,
        stripe.PaymentMethod.create,
        type="card",
        card=dict(CARD, colour="blue"),
        status=400,
        code="parameter_unknown",
        param="card[colour]",
    )
    expect_error(
        stripe.InvalidRequestError,
        stripe.PaymentMethod.create,
        type="card",
        card={"token": "tok_doesnotexist"},
        status=400,
        code="resource_missing",
        param="card[token]",
    )


def test_attach_list_retrieve_detach(email, client):
    cus = new_customer(email)
    pm = stripe.PaymentMethod.create(type="card", card=CARD)
    attached = stripe.PaymentMethod.attach(pm.id, customer=cus.id)
    check(attached)
    assert attached.id == pm.id
    assert attached.customer == cus.id
    assert attached.card.checks.cvc_check == "pass"

    # The customer's PaymentMethods, both styles, and the filtered list.
    lst = stripe.Customer.list_payment_methods(cus.id)
    check(lst)
    assert lst.object == "list" and lst.url == "/v1/customers/%s/payment_methods" % cus.id
    assert [x.id for x in lst.data] == [pm.id]
    lst2 = client.v1.customers.payment_methods.list(cus.id, params={"type": "card"})
    check(lst2)
    assert [x.id for x in lst2.data] == [pm.id]
    filtered = stripe.PaymentMethod.list(customer=cus.id, type="card")
    check(filtered)
    assert filtered.url == "/v1/payment_methods"
    assert [x.id for x in filtered.data] == [pm.id]
    one = stripe.Customer.retrieve_payment_method(cus.id, pm.id)
    check(one)
    assert one.id == pm.id and one.customer == cus.id

    # expand customer
    expanded = stripe.PaymentMethod.retrieve(pm.id, expand=["customer"])
    check(expanded)
    assert expanded.customer.id == cus.id and expanded.customer.object == "customer"

    # Attaching again fails, to this customer or another.
    expect_error(
        stripe.InvalidRequestError,
        stripe.PaymentMethod.attach,
        pm.id,
        customer=cus.id,
        status=400,
        message_contains="already been attached",
    )

    detached = stripe.PaymentMethod.detach(pm.id)
    check(detached)
    assert detached.customer is None
    assert stripe.Customer.list_payment_methods(cus.id).data == []
    expect_error(
        stripe.InvalidRequestError,
        stripe.PaymentMethod.detach,
        pm.id,
        status=400,
        message_contains="not attached to a customer",
    )
    # A detached PaymentMethod may not be used again.
    expect_error(stripe.InvalidRequestError, stripe.PaymentMethod.attach, pm.id, customer=cus.id, status=400)


def test_attach_test_payment_method_shortcuts(email):
    cus = new_customer(email)
    visa = stripe.PaymentMethod.attach("pm_card_visa", customer=cus.id)
    check(visa)
    assert visa.id.startswith("pm_") and visa.id != "pm_card_visa"
    assert visa.customer == cus.id and visa.card.last4 == "4242"
    amex = stripe.PaymentMethod.attach("pm_card_amex", customer=cus.id)
    assert amex.card.brand == "amex" and amex.card.three_d_secure_usage.supported is False
    # "Decline after attaching": attaching works.
    fail = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=cus.id)
    assert fail.card.last4 == "0341"
    # Stripe's declining cards can't be attached to a customer.
    e = expect_error(
        stripe.CardError,
        stripe.PaymentMethod.attach,
        "pm_card_visa_chargeDeclined",
        customer=cus.id,
        status=402,
        type_="card_error",
        code="card_declined",
    )
    assert e.error.decline_code == "generic_decline"
    assert e.error.message == "Your card was declined."
    expect_error(
        stripe.CardError,
        stripe.PaymentMethod.attach,
        "pm_card_chargeDeclinedExpiredCard",
        customer=cus.id,
        status=402,
        type_="card_error",
        code="expired_card",
    )
    ids = [x.id for x in stripe.Customer.list_payment_methods(cus.id).data]
    assert ids == [fail.id, amex.id, visa.id]
    # Unknown ids and shortcuts
    expect_error(
        stripe.InvalidRequestError,
        stripe.PaymentMethod.attach,
        "pm_card_doesnotexist",
        customer=cus.id,
        status=404,
        code="resource_missing",
        message_contains="No such PaymentMethod",
    )


def test_update_requires_attachment(email):
    pm = stripe.PaymentMethod.create(type="card", card=CARD)
    expect_error(
        stripe.InvalidRequestError,
        stripe.PaymentMethod.modify,
        pm.id,
        metadata={"a": "1"},
        status=400,
        message_contains="save this PaymentMethod to a customer",
    )
    cus = new_customer(email)
    stripe.PaymentMethod.attach(pm.id, customer=cus.id)
    u = stripe.PaymentMethod.modify(
        pm.id,
        metadata={"a": "1"},
        billing_details={"name": "Jo", "address": {"city": "Paris"}},
        card={"exp_month": 3, "exp_year": 2033},
    )
    check(u)
    assert u.metadata.to_dict() == {"a": "1"}
    assert u.billing_details.name == "Jo" and u.billing_details.address.city == "Paris"
    assert (u.card.exp_month, u.card.exp_year) == (3, 2033)
    # empty string unsets
    u2 = stripe.PaymentMethod.modify(pm.id, metadata={"a": ""}, billing_details={"name": ""})
    check(u2)
    assert u2.metadata.to_dict() == {}
    assert u2.billing_details.name is None
    assert u2.billing_details.address.city == "Paris"


def test_customer_list_pages_and_auto_paging(email):
    cus = new_customer(email)
    made = [stripe.PaymentMethod.attach("pm_card_visa", customer=cus.id).id for _ in range(5)]
    page = stripe.Customer.list_payment_methods(cus.id, limit=2)
    check(page)
    assert [x.id for x in page.data] == made[::-1][:2] and page.has_more is True
    seen = [x.id for x in stripe.Customer.list_payment_methods(cus.id, limit=2).auto_paging_iter()]
    assert seen == made[::-1]
    seen_filtered = [x.id for x in stripe.PaymentMethod.list(customer=cus.id, limit=2).auto_paging_iter()]
    assert seen_filtered == made[::-1]
    assert stripe.Customer.list_payment_methods(cus.id, type="sepa_debit").data == []


def test_unknown_objects():
    expect_error(
        stripe.InvalidRequestError,
        stripe.PaymentMethod.retrieve,
        "pm_doesnotexist0000",
        status=404,
        code="resource_missing",
        param="id",
        message_contains=["No such PaymentMethod", "pm_doesnotexist0000"],
    )
    expect_error(
        stripe.InvalidRequestError,
        stripe.Customer.list_payment_methods,
        "cus_doesnotexist0000",
        status=404,
        code="resource_missing",
    )


def test_payment_methods_are_not_shared_between_platforms(api_key_2):
    pm = stripe.PaymentMethod.create(type="card", card=CARD)
    r = raw("GET", "/v1/payment_methods/%s" % pm.id, key=api_key_2)
    assert r.status == 404, r.body
    assert r.error["code"] == "resource_missing"
