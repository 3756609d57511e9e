"""Payments on the platform: PaymentIntents (confirm, manual capture, cancel, list, update),
declines, authentication, and the legacy Charges API, with exact amounts on every side:
the customer's charge, the platform's balance and balance transaction, the operator's fee.
"""

from __future__ import annotations

import pytest
import stripe

from helpers import expect_error
from money_helpers import (
    DECLINES,
    PM_AUTH_REQUIRED,
    PM_MASTERCARD,
    PM_VISA,
    BalanceWatch,
    assert_bt,
    assert_delta,
    assert_pending,
    charge_bt,
    charge_of,
    money_marks,
    pay,
    stripe_fee,
)
from openapi_check import check

pytestmark = money_marks("payments")

RETURN_URL = "https://example.com/return"


def assert_succeeded_card_charge(ch, amount, pi_id=None, brand="visa", last4="4242"):
    check(ch)
    assert ch.id.startswith("ch_")
    assert ch.object == "charge"
    assert ch.amount == amount
    assert ch.amount_captured == amount
    assert ch.amount_refunded == 0
    assert ch.captured is True and ch.paid is True and ch.refunded is False and ch.disputed is False
    assert ch.status == "succeeded"
    assert ch.currency == "usd"
    assert ch.livemode is False
    if pi_id is not None:
        assert ch.payment_intent == pi_id
    card = ch.payment_method_details.card
    assert ch.payment_method_details.type == "card"
    assert (card.brand, card.last4) == (brand, last4)
    assert ch.outcome.type == "authorized"


# --- create + confirm ------------------------------------------------------------------------------


def test_payment_intent_confirm_true_charges_and_books_fee():
    w = BalanceWatch(None)
    pi = pay(1000)
    assert pi.id.startswith("pi_") and pi.object == "payment_intent"
    assert pi.client_secret.startswith(pi.id + "_secret_")
    assert pi.amount == 1000 and pi.amount_received == 1000 and pi.amount_capturable == 0
    assert pi.currency == "usd"
    assert pi.capture_method in ("automatic", "automatic_async")
    assert pi.payment_method.startswith("pm_") and pi.payment_method != PM_VISA
    assert pi.payment_method_types == ["card"]
    assert pi.last_payment_error is None and pi.next_action is None

    ch = charge_of(pi)
    assert_succeeded_card_charge(ch, 1000, pi.id)
    assert ch.payment_method == pi.payment_method
    bt = charge_bt(ch)
    assert_bt(bt, type="charge", amount=1000, fee=59, net=941, fee_details={"stripe_fee": 59}, source=ch.id, reporting_category="charge")
    assert_pending(bt)
    # the platform: +941 pending, nothing available yet; the operator keeps 59
    assert_delta(w.delta(None), "platform", available=0, pending=941)


def test_payment_intent_automatic_payment_methods_without_redirects():
    w = BalanceWatch(None)
    pi = stripe.PaymentIntent.create(
        amount=1234,
        currency="usd",
        automatic_payment_methods={"enabled": True, "allow_redirects": "never"},
        payment_method=PM_MASTERCARD,
        confirm=True,
    )
    check(pi)
    assert pi.status == "succeeded"
    assert pi.automatic_payment_methods.enabled is True
    assert pi.automatic_payment_methods.allow_redirects == "never"
    ch = charge_of(pi)
    assert_succeeded_card_charge(ch, 1234, pi.id, brand="mastercard", last4="4444")
    # 2.9% of 1234 = 35.786 -> 36, + 30 = 66
    assert_bt(charge_bt(ch), type="charge", amount=1234, fee=66, net=1168, fee_details={"stripe_fee": 66})
    assert_delta(w.delta(None), "platform", available=0, pending=1168)


def test_payment_intent_create_update_then_confirm(uid):
    pi = stripe.PaymentIntent.create(amount=1500, currency="usd", payment_method_types=["card"], metadata={"order": uid})
    check(pi)
    assert pi.status == "requires_payment_method"
    assert pi.latest_charge is None and pi.amount_received == 0

    pi = stripe.PaymentIntent.modify(pi.id, amount=2000, description="two things", metadata={"step": "updated"})
    check(pi)
    assert pi.amount == 2000 and pi.description == "two things"
    assert pi.metadata.to_dict() == {"order": uid, "step": "updated"}

    pi = stripe.PaymentIntent.modify(pi.id, payment_method=PM_VISA)
    assert pi.status == "requires_confirmation"

    w = BalanceWatch(None)
    pi = stripe.PaymentIntent.confirm(pi.id)
    check(pi)
    assert pi.status == "succeeded" and pi.amount_received == 2000
    ch = charge_of(pi)
    assert_succeeded_card_charge(ch, 2000, pi.id)
    assert_bt(charge_bt(ch), type="charge", amount=2000, fee=88, net=1912)
    assert_delta(w.delta(None), "platform", available=0, pending=1912)

    got = stripe.PaymentIntent.retrieve(pi.id)
    check(got)
    assert (got.status, got.amount_received, got.latest_charge) == ("succeeded", 2000, ch.id)


def test_payment_intent_retrieve_list_and_paging(email):
    cus = stripe.Customer.create(email=email)
    first = stripe.PaymentIntent.create(amount=700, currency="usd", customer=cus.id, payment_method_types=["card"])
    second = pay(800, customer=cus.id)
    lst = stripe.PaymentIntent.list(customer=cus.id)
    check(lst)
    assert lst.url == "/v1/payment_intents"
    assert [p.id for p in lst.data] == [second.id, first.id]  # newest first
    assert [p.status for p in lst.data] == ["succeeded", "requires_payment_method"]
    page = stripe.PaymentIntent.list(customer=cus.id, limit=1)
    assert [p.id for p in page.data] == [second.id] and page.has_more is True
    assert [p.id for p in page.auto_paging_iter()] == [second.id, first.id]
    got = stripe.PaymentIntent.retrieve(first.id)
    check(got)
    assert got.id == first.id and got.customer == cus.id and got.amount == 700
    expand = stripe.PaymentIntent.retrieve(second.id, expand=["latest_charge", "customer"])
    check(expand)
    assert expand.latest_charge.object == "charge" and expand.latest_charge.amount == 800
    assert expand.customer.id == cus.id


def test_payment_intent_unknown_id_is_404():
    expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.retrieve, "pi_doesnotexist000", status=404, code="resource_missing", param="id")


def test_payment_intent_amount_too_small():
    expect_error(
        stripe.InvalidRequestError,
        stripe.PaymentIntent.create,
        amount=10,
        currency="usd",
        payment_method_types=["card"],
        status=400,
        code="amount_too_small",
        param="amount",
    )


def test_application_fee_requires_a_connect_charge():
    # an application fee needs a direct (Stripe-Account) or destination (transfer_data) payment
    w = BalanceWatch(None)
    expect_error(
        stripe.InvalidRequestError,
        stripe.PaymentIntent.create,
        amount=1000,
        currency="usd",
        payment_method=PM_VISA,
        payment_method_types=["card"],
        confirm=True,
        application_fee_amount=100,
        status=400,
    )
    assert_delta(w.delta(None), "platform", total=0)


# --- manual capture --------------------------------------------------------------------------------


def test_manual_capture_full():
    w = BalanceWatch(None)
    pi = pay(1000, capture_method="manual")
    assert pi.capture_method == "manual"
    assert (pi.amount_capturable, pi.amount_received) == (1000, 0)
    ch = charge_of(pi)
    assert ch.captured is False and ch.paid is True and ch.status == "succeeded"
    assert ch.amount_captured == 0
    assert ch.balance_transaction is None  # nothing settles before capture
    assert_delta(w.delta(None), "platform", total=0)

    cap = stripe.PaymentIntent.capture(pi.id)
    check(cap)
    assert cap.status == "succeeded"
    assert (cap.amount_capturable, cap.amount_received) == (0, 1000)
    ch = charge_of(cap)
    assert ch.captured is True and ch.amount_captured == 1000 and ch.amount_refunded == 0
    bt = charge_bt(ch)
    assert_bt(bt, type="charge", amount=1000, fee=59, net=941)
    assert_pending(bt)
    assert_delta(w.delta(None), "platform", available=0, pending=941)

    # a second capture is refused
    expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.capture, pi.id, status=400, code="payment_intent_unexpected_state")


def test_manual_capture_partial_releases_the_rest():
    w = BalanceWatch(None)
    pi = pay(1000, capture_method="manual")
    expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.capture, pi.id, amount_to_capture=1001, status=400)
    cap = stripe.PaymentIntent.capture(pi.id, amount_to_capture=600)
    check(cap)
    assert cap.status == "succeeded"
    assert (cap.amount, cap.amount_received, cap.amount_capturable) == (1000, 600, 0)
    ch = charge_of(cap)
    assert ch.captured is True
    assert ch.amount_captured == 600
    # "Any additional amount is automatically refunded" (the uncaptured 400 is released)
    assert ch.amount_refunded == 400 and ch.refunded is False
    # only the captured 600 reaches the platform, less the fee on 600 (2.9% = 17.4 -> 17, + 30)
    assert stripe_fee(600) == 47
    assert_delta(w.delta(None), "platform", available=0, pending=600 - 47)


def test_cancel_uncaptured_payment_intent():
    w = BalanceWatch(None)
    pi = pay(1000, capture_method="manual")
    c = stripe.PaymentIntent.cancel(pi.id, cancellation_reason="requested_by_customer")
    check(c)
    assert c.status == "canceled"
    assert c.cancellation_reason == "requested_by_customer"
    assert isinstance(c.canceled_at, int) and c.canceled_at > 0
    assert (c.amount_capturable, c.amount_received) == (0, 0)
    ch = charge_of(c)
    assert ch.captured is False and ch.balance_transaction is None
    assert_delta(w.delta(None), "platform", total=0)
    # nothing more can happen to it
    expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.capture, pi.id, status=400, code="payment_intent_unexpected_state")
    expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.confirm, pi.id, payment_method=PM_VISA, status=400, code="payment_intent_unexpected_state")


def test_cancel_before_payment_method_and_cancel_succeeded_is_refused():
    pi = stripe.PaymentIntent.create(amount=500, currency="usd", payment_method_types=["card"])
    c = stripe.PaymentIntent.cancel(pi.id)
    check(c)
    assert c.status == "canceled" and c.latest_charge is None
    done = pay(500)
    expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.cancel, done.id, status=400, code="payment_intent_unexpected_state")
    assert stripe.PaymentIntent.retrieve(done.id).status == "succeeded"


# --- declines and authentication -----------------------------------------------------------------


@pytest.mark.parametrize("pm,code,decline_code", DECLINES, ids=[d[0] for d in DECLINES])
def test_decline_cards(pm, code, decline_code):
    w = BalanceWatch(None)
    with pytest.raises(stripe.CardError) as ei:
        stripe.PaymentIntent.create(amount=1000, currency="usd", payment_method=pm, payment_method_types=["card"], confirm=True)
    e = ei.value
    assert e.http_status == 402
    assert (e.request_id or "").startswith("req_")
    err = e.json_body["error"]
    assert err["type"] == "card_error"
    assert err["code"] == code and e.code == code
    if decline_code is None:
        # Stripe's test-card table lists no decline code for these; tolerate one equal to code
        assert err.get("decline_code") in (None, code), err
    else:
        assert err["decline_code"] == decline_code
    assert isinstance(err["message"], str) and err["message"]
    # the PaymentIntent comes back in the error, ready for another payment method
    pi = e.error.payment_intent
    assert pi is not None and pi.id.startswith("pi_")
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.code == code
    if decline_code is not None:
        assert pi.last_payment_error.decline_code == decline_code
    assert pi.amount_received == 0
    # the failed charge is recorded, and nothing settles
    assert (err.get("charge") or "").startswith("ch_"), err
    ch = stripe.Charge.retrieve(err["charge"])
    check(ch)
    assert ch.status == "failed" and ch.paid is False and ch.captured is False
    assert ch.failure_code == code
    assert ch.balance_transaction is None
    got = stripe.PaymentIntent.retrieve(pi.id)
    check(got)
    assert got.status == "requires_payment_method"
    assert got.last_payment_error.code == code
    assert got.latest_charge == ch.id
    assert_delta(w.delta(None), "platform", total=0)

    # the same PaymentIntent succeeds with a good card
    ok = stripe.PaymentIntent.confirm(pi.id, payment_method=PM_VISA)
    check(ok)
    assert ok.status == "succeeded" and ok.last_payment_error is None
    assert ok.latest_charge != ch.id
    assert_delta(w.delta(None), "platform", available=0, pending=941)


def test_authentication_required_card_requires_action():
    w = BalanceWatch(None)
    pi = stripe.PaymentIntent.create(
        amount=1000,
        currency="usd",
        payment_method=PM_AUTH_REQUIRED,
        payment_method_types=["card"],
        confirm=True,
        return_url=RETURN_URL,
    )
    check(pi)
    assert pi.status == "requires_action"
    assert pi.next_action.type == "redirect_to_url"
    url = pi.next_action.redirect_to_url.url
    assert isinstance(url, str) and url.startswith(("http://", "https://")), url
    assert pi.next_action.redirect_to_url.return_url == RETURN_URL
    assert pi.amount_received == 0
    assert_delta(w.delta(None), "platform", total=0)
    assert stripe.PaymentIntent.retrieve(pi.id).status == "requires_action"


# --- the legacy Charges API ---------------------------------------------------------------------------


def test_legacy_charge_with_token():
    w = BalanceWatch(None)
    ch = stripe.Charge.create(amount=2000, currency="usd", source="tok_visa", description="legacy")
    check(ch)
    assert_succeeded_card_charge(ch, 2000)
    assert ch.description == "legacy"
    bt = charge_bt(ch)
    assert_bt(bt, type="charge", amount=2000, fee=88, net=1912, fee_details={"stripe_fee": 88}, source=ch.id)
    assert_pending(bt)
    assert_delta(w.delta(None), "platform", available=0, pending=1912)


def test_legacy_charge_uncaptured_then_captured():
    w = BalanceWatch(None)
    ch = stripe.Charge.create(amount=1000, currency="usd", source="tok_visa", capture=False)
    check(ch)
    assert ch.captured is False and ch.paid is True and ch.balance_transaction is None
    assert_delta(w.delta(None), "platform", total=0)
    cap = stripe.Charge.capture(ch.id)
    check(cap)
    assert cap.captured is True and cap.amount_captured == 1000
    assert_bt(charge_bt(cap), type="charge", amount=1000, fee=59, net=941)
    assert_delta(w.delta(None), "platform", available=0, pending=941)


def test_legacy_charge_declined_token():
    w = BalanceWatch(None)
    e = expect_error(
        stripe.CardError,
        stripe.Charge.create,
        amount=1000,
        currency="usd",
        source="tok_chargeDeclined",
        status=402,
        type_="card_error",
        code="card_declined",
    )
    err = e.json_body["error"]
    assert err["decline_code"] == "generic_decline"
    assert (err.get("charge") or "").startswith("ch_")
    assert stripe.Charge.retrieve(err["charge"]).status == "failed"
    assert_delta(w.delta(None), "platform", total=0)


def test_charge_update_retrieve_and_list(uid):
    pi = pay(1000)
    ch = charge_of(pi)
    up = stripe.Charge.modify(ch.id, description="updated", metadata={"ref": uid})
    check(up)
    assert up.description == "updated" and up.metadata["ref"] == uid
    assert up.amount == 1000 and up.balance_transaction == ch.balance_transaction  # money untouched
    lst = stripe.Charge.list(payment_intent=pi.id)
    check(lst)
    assert lst.url == "/v1/charges"
    assert [c.id for c in lst.data] == [ch.id]
    got = stripe.Charge.retrieve(ch.id, expand=["balance_transaction"])
    check(got)
    assert got.balance_transaction.object == "balance_transaction"
    assert got.balance_transaction.amount == 1000 and got.balance_transaction.fee == 59
