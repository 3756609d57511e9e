"""Refunds: full and partial, by charge or PaymentIntent; on destination charges with
reverse_transfer and refund_application_fee (Stripe's proportional rules); on direct charges;
the refund test cards (refund fails asynchronously / stays pending).

Stripe does not return the processing fee of a refunded charge: the operator keeps it.
"""

from __future__ import annotations

import stripe

from conftest_money import custom_account, fee_paying_account  # noqa: F401 (pytest fixtures)
from helpers import expect_error, wait_for
from money_helpers import (
    PM_PENDING_REFUND,
    PM_REFUND_FAIL,
    BalanceWatch,
    assert_bt,
    assert_delta,
    application_fee_of,
    balance_transaction,
    charge_of,
    id_of,
    money_marks,
    pay,
    stripe_fee,
)
from openapi_check import check

pytestmark = money_marks("refunds")


def assert_refund(r, amount, charge_id, status="succeeded"):
    check(r)
    assert r.id.startswith("re_") and r.object == "refund"
    assert (r.amount, r.currency, id_of(r.charge)) == (amount, "usd", charge_id)
    assert r.status == status, "refund %s: status %r, expected %r" % (r.id, r.status, status)


def test_full_refund_of_a_platform_charge():
    pi = pay(1000)
    ch = charge_of(pi)
    w = BalanceWatch(None)
    r = stripe.Refund.create(charge=ch.id)
    assert_refund(r, 1000, ch.id)
    assert id_of(r.payment_intent) == pi.id
    assert_bt(balance_transaction(r.balance_transaction), type="refund", amount=-1000, fee=0, net=-1000, source=r.id, reporting_category="refund")
    got = stripe.Charge.retrieve(ch.id)
    assert (got.amount_refunded, got.refunded) == (1000, True)
    # the customer gets 1000 back; the platform pays 1000 (the 59 fee is not returned)
    assert_delta(w.delta(None), "platform", total=-1000)
    expect_error(stripe.InvalidRequestError, stripe.Refund.create, charge=ch.id, status=400, code="charge_already_refunded")
    assert_delta(w.delta(None), "platform", total=-1000)


def test_partial_refunds_list_retrieve_update(uid):
    pi = pay(2000)
    ch = charge_of(pi)
    w = BalanceWatch(None)
    r1 = stripe.Refund.create(payment_intent=pi.id, amount=500, reason="requested_by_customer", metadata={"ticket": uid})
    assert_refund(r1, 500, ch.id)
    assert r1.reason == "requested_by_customer" and r1.metadata["ticket"] == uid
    assert_bt(balance_transaction(r1.balance_transaction), type="refund", amount=-500, fee=0, net=-500, source=r1.id)
    got = stripe.Charge.retrieve(ch.id)
    assert (got.amount_refunded, got.refunded) == (500, False)

    # more than what is left is refused, and changes nothing
    expect_error(stripe.InvalidRequestError, stripe.Refund.create, charge=ch.id, amount=1501, status=400)
    assert stripe.Charge.retrieve(ch.id).amount_refunded == 500

    r2 = stripe.Refund.create(charge=ch.id)  # the remaining 1500
    assert_refund(r2, 1500, ch.id)
    assert_bt(balance_transaction(r2.balance_transaction), type="refund", amount=-1500, fee=0, net=-1500, source=r2.id)
    got = stripe.Charge.retrieve(ch.id)
    assert (got.amount_refunded, got.refunded) == (2000, True)
    assert stripe.PaymentIntent.retrieve(pi.id).amount_received == 2000

    lst = stripe.Refund.list(charge=ch.id)
    check(lst)
    assert lst.url == "/v1/refunds"
    assert [r.id for r in lst.data] == [r2.id, r1.id]
    assert [r.id for r in stripe.Refund.list(payment_intent=pi.id).data] == [r2.id, r1.id]
    one = stripe.Refund.retrieve(r1.id)
    check(one)
    assert one.amount == 500
    upd = stripe.Refund.modify(r1.id, metadata={"ticket": "", "note": "x"})
    check(upd)
    assert upd.metadata.to_dict() == {"note": "x"} and upd.amount == 500
    assert_delta(w.delta(None), "platform", total=-2000)


def test_destination_partial_refund_reverses_transfer_and_fee_proportionally(custom_account):
    acct = custom_account.id
    pi = pay(1000, application_fee_amount=200, transfer_data={"destination": acct})
    ch = charge_of(pi)
    tr_id, fee_id = id_of(ch.transfer), id_of(ch.application_fee)
    w = BalanceWatch(None, acct)

    r = stripe.Refund.create(charge=ch.id, amount=500, reverse_transfer=True, refund_application_fee=True)
    assert_refund(r, 500, ch.id)
    assert_bt(balance_transaction(r.balance_transaction), type="refund", amount=-500, fee=0, net=-500, source=r.id)
    # the transfer is reversed in proportion: 500/1000 of 1000
    trr = id_of(r.transfer_reversal)
    assert isinstance(trr, str) and trr.startswith("trr_"), r.transfer_reversal
    rev = stripe.Transfer.retrieve_reversal(tr_id, trr)
    check(rev)
    assert rev.amount == 500 and id_of(rev.source_refund) == r.id
    tr = stripe.Transfer.retrieve(tr_id)
    assert (tr.amount_reversed, tr.reversed) == (500, False)
    # the application fee is refunded in proportion: 500/1000 of 200
    fee = stripe.ApplicationFee.retrieve(fee_id)
    check(fee)
    assert (fee.amount_refunded, fee.refunded) == (100, False)
    assert (stripe.Charge.retrieve(ch.id).amount_refunded) == 500

    # platform: -500 refund, +500 reversal, -100 fee refund; account: -500 + 100
    assert_delta(w.delta(None), "platform", total=-100)
    assert_delta(w.delta(acct), "connected account", total=-400)


def test_destination_full_refund_reverses_everything(custom_account):
    acct = custom_account.id
    w = BalanceWatch(None, acct)
    pi = pay(1000, application_fee_amount=200, transfer_data={"destination": acct})
    ch = charge_of(pi)
    r = stripe.Refund.create(payment_intent=pi.id, reverse_transfer=True, refund_application_fee=True)
    assert_refund(r, 1000, ch.id)
    tr = stripe.Transfer.retrieve(id_of(ch.transfer))
    assert (tr.amount_reversed, tr.reversed) == (1000, True)
    fee = stripe.ApplicationFee.retrieve(id_of(ch.application_fee))
    assert (fee.amount_refunded, fee.refunded) == (200, True)
    got = stripe.Charge.retrieve(ch.id)
    assert (got.amount_refunded, got.refunded) == (1000, True)
    # the customer is whole again; the account is back to zero; the platform lost the 59 fee
    assert_delta(w.delta(acct), "connected account", total=0)
    assert_delta(w.delta(None), "platform", total=-stripe_fee(1000))


def test_destination_refund_without_reverse_transfer_is_on_the_platform(custom_account):
    acct = custom_account.id
    pi = pay(1000, application_fee_amount=100, transfer_data={"destination": acct})
    ch = charge_of(pi)
    w = BalanceWatch(None, acct)
    r = stripe.Refund.create(charge=ch.id, amount=400)
    assert_refund(r, 400, ch.id)
    assert r.transfer_reversal is None
    assert stripe.Transfer.retrieve(id_of(ch.transfer)).amount_reversed == 0
    assert stripe.ApplicationFee.retrieve(id_of(ch.application_fee)).amount_refunded == 0
    assert_delta(w.delta(None), "platform", total=-400)
    assert_delta(w.delta(acct), "connected account", total=0)


def test_destination_refund_with_transfer_amount_reverses_proportionally(custom_account):
    acct = custom_account.id
    pi = pay(1000, transfer_data={"destination": acct, "amount": 800})
    ch = charge_of(pi)
    w = BalanceWatch(None, acct)
    r = stripe.Refund.create(charge=ch.id, amount=500, reverse_transfer=True)
    assert_refund(r, 500, ch.id)
    # 500 of 1000 refunded -> 500/1000 of the 800 transferred comes back
    rev = stripe.Transfer.retrieve_reversal(id_of(ch.transfer), id_of(r.transfer_reversal))
    assert rev.amount == 400
    assert stripe.Transfer.retrieve(id_of(ch.transfer)).amount_reversed == 400
    assert_delta(w.delta(None), "platform", total=-500 + 400)
    assert_delta(w.delta(acct), "connected account", total=-400)


def test_direct_charge_refund_with_application_fee_refund(fee_paying_account):
    acct = fee_paying_account.id
    pi = pay(1000, account=acct, application_fee_amount=200)
    ch = charge_of(pi, acct)
    fee = application_fee_of(ch)
    w = BalanceWatch(None, acct)
    r = stripe.Refund.create(charge=ch.id, amount=250, refund_application_fee=True, stripe_account=acct)
    assert_refund(r, 250, ch.id)
    assert_bt(balance_transaction(r.balance_transaction, acct), type="refund", amount=-250, fee=0, net=-250, source=r.id)
    # 250/1000 of the 200 fee goes back to the account
    got = stripe.ApplicationFee.retrieve(fee.id)
    assert (got.amount_refunded, got.refunded) == (50, False)
    assert [x.id for x in stripe.Refund.list(charge=ch.id, stripe_account=acct).data] == [r.id]
    # the refund lives on the connected account
    expect_error(stripe.InvalidRequestError, stripe.Refund.retrieve, r.id, status=404, code="resource_missing")
    assert_delta(w.delta(acct), "connected account", total=-250 + 50)
    assert_delta(w.delta(None), "platform", total=-50)


def test_direct_charge_refund_keeps_the_application_fee(fee_paying_account):
    acct = fee_paying_account.id
    w = BalanceWatch(None, acct)
    pi = pay(1000, account=acct, application_fee_amount=200)
    ch = charge_of(pi, acct)
    fee = application_fee_of(ch)
    r = stripe.Refund.create(payment_intent=pi.id, stripe_account=acct)
    assert_refund(r, 1000, ch.id)
    assert stripe.ApplicationFee.retrieve(fee.id).amount_refunded == 0
    # the account refunds 1000 after receiving 1000 - 59 - 200: it is 259 short, which the
    # platform (liable for its losses) holds in its Connect reserve
    short = -stripe_fee(1000) - 200
    assert_delta(w.delta(acct), "connected account", total=short)
    platform = w.delta(None)
    assert_delta(platform, "platform", total=200 + short)
    assert platform.connect_reserved.get("usd", 0) == -short


def test_refund_fail_card_refund_fails_after_succeeding():
    pi = pay(1000, payment_method=PM_REFUND_FAIL)
    ch = charge_of(pi)
    w = BalanceWatch(None)
    r = stripe.Refund.create(charge=ch.id)
    assert_refund(r, 1000, ch.id, status="succeeded")  # at first
    assert_bt(balance_transaction(r.balance_transaction), type="refund", amount=-1000, fee=0, net=-1000)

    got = wait_for(lambda: stripe.Refund.retrieve(r.id), lambda x: x.status == "failed", timeout=15)
    check(got)
    assert got.status == "failed", "refund %s still %r" % (r.id, got.status)
    assert isinstance(got.failure_reason, str) and got.failure_reason
    fbt = balance_transaction(got.failure_balance_transaction)
    assert fbt.type in ("refund_failure", "adjustment"), fbt.type
    assert fbt.reporting_category == "refund_failure"
    assert (fbt.amount, fbt.fee, fbt.net) == (1000, 0, 1000)
    after = stripe.Charge.retrieve(ch.id)
    assert (after.amount_refunded, after.refunded) == (0, False)
    # the money went out and came back
    assert_delta(w.delta(None), "platform", total=0)


def test_pending_refund_card_refund_stays_pending():
    pi = pay(1000, payment_method=PM_PENDING_REFUND)
    ch = charge_of(pi)
    w = BalanceWatch(None)
    r = stripe.Refund.create(charge=ch.id)
    assert_refund(r, 1000, ch.id, status="pending")
    got = stripe.Refund.retrieve(r.id)
    check(got)
    assert got.status == "pending"
    assert stripe.Charge.retrieve(ch.id).amount_refunded == 1000
    assert_bt(balance_transaction(r.balance_transaction), type="refund", amount=-1000, fee=0, net=-1000)
    assert_delta(w.delta(None), "platform", total=-1000)
