"""Disputes from the dispute test cards: the disputed amount and the $15.00 dispute fee are
withdrawn from whoever owns the charge (the platform for its own and destination charges, the
connected account for its direct charges) and reinstated when the dispute is won
(evidence uncategorized_text=winning_evidence); losing_evidence or close -> lost.
"""

from __future__ import annotations

import time

import stripe

from conftest_money import custom_account, fee_paying_account  # noqa: F401 (pytest fixtures)
from helpers import expect_error, wait_for
from money_helpers import (
    DISPUTE_FEE,
    PM_DISPUTE,
    PM_DISPUTE_INQUIRY,
    PM_DISPUTE_PNR,
    BalanceWatch,
    assert_bt,
    assert_delta,
    charge_of,
    dispute_of,
    id_of,
    money_marks,
    opts,
    pay,
    stripe_fee,
)
from openapi_check import check

pytestmark = money_marks("disputes")


def assert_withdrawal(bt, amount, dispute_id):
    assert_bt(
        bt,
        type="adjustment",
        amount=-amount,
        fee=DISPUTE_FEE,
        net=-amount - DISPUTE_FEE,
        fee_details={"stripe_fee": DISPUTE_FEE},
        source=dispute_id,
        reporting_category="dispute",
    )


def assert_reinstatement(bt, amount, dispute_id):
    assert_bt(
        bt,
        type="adjustment",
        amount=amount,
        fee=-DISPUTE_FEE,
        net=amount + DISPUTE_FEE,
        fee_details={"stripe_fee": -DISPUTE_FEE},
        source=dispute_id,
        reporting_category="dispute_reversal",
    )


def wait_status(dispute_id, status, account=None):
    got = wait_for(lambda: stripe.Dispute.retrieve(dispute_id, **opts(account)), lambda d: d.status == status, timeout=15)
    check(got)
    assert got.status == status, "dispute %s: status %r, expected %r" % (dispute_id, got.status, status)
    return got


def test_dispute_card_opens_a_dispute_and_withdraws_amount_and_fee():
    w = BalanceWatch(None)
    pi = pay(1000, payment_method=PM_DISPUTE)
    ch = charge_of(pi)
    dp = dispute_of(ch.id)
    check(dp)
    assert dp.id.startswith(("dp_", "du_")) and dp.object == "dispute"
    assert (dp.amount, dp.currency, dp.reason, dp.status) == (1000, "usd", "fraudulent", "needs_response")
    assert id_of(dp.charge) == ch.id and id_of(dp.payment_intent) == pi.id
    assert dp.is_charge_refundable is False and dp.livemode is False
    ed = dp.evidence_details
    assert ed.due_by > time.time() and ed.has_evidence is False and ed.past_due is False and ed.submission_count == 0

    # one balance transaction: -1000 and the 1500 dispute fee
    assert len(dp.balance_transactions) == 1
    assert_withdrawal(dp.balance_transactions[0], 1000, dp.id)
    assert stripe.Charge.retrieve(ch.id).disputed is True

    got = stripe.Dispute.retrieve(dp.id)
    check(got)
    assert got.id == dp.id and got.status == "needs_response"
    lst = stripe.Dispute.list(payment_intent=pi.id)
    check(lst)
    assert lst.url == "/v1/disputes"
    assert [d.id for d in lst.data] == [dp.id]

    # platform: +941 from the charge, -2500 for the dispute; the operator keeps 59 + 1500
    assert_delta(w.delta(None), "platform", total=941 - 1000 - DISPUTE_FEE)


def test_dispute_won_with_winning_evidence_reinstates_funds():
    w = BalanceWatch(None)
    ch = charge_of(pay(1000, payment_method=PM_DISPUTE))
    dp = dispute_of(ch.id)
    upd = stripe.Dispute.modify(dp.id, evidence={"uncategorized_text": "winning_evidence"}, submit=True)
    check(upd)
    assert upd.evidence.uncategorized_text == "winning_evidence"
    assert upd.status in ("under_review", "won")
    done = wait_status(dp.id, "won")
    assert done.evidence_details.submission_count == 1
    assert len(done.balance_transactions) == 2
    assert_withdrawal(done.balance_transactions[0], 1000, dp.id)
    assert_reinstatement(done.balance_transactions[1], 1000, dp.id)
    # back where the charge left the platform: +941
    assert_delta(w.delta(None), "platform", total=941)


def test_dispute_lost_with_losing_evidence():
    w = BalanceWatch(None)
    ch = charge_of(pay(1000, payment_method=PM_DISPUTE))
    dp = dispute_of(ch.id)
    stripe.Dispute.modify(dp.id, evidence={"uncategorized_text": "losing_evidence"}, submit=True)
    done = wait_status(dp.id, "lost")
    assert len(done.balance_transactions) == 1
    assert_delta(w.delta(None), "platform", total=941 - 1000 - DISPUTE_FEE)


def test_dispute_close_accepts_the_loss():
    w = BalanceWatch(None)
    ch = charge_of(pay(1000, payment_method=PM_DISPUTE))
    dp = dispute_of(ch.id)
    closed = stripe.Dispute.close(dp.id)
    check(closed)
    assert closed.status == "lost"
    assert len(closed.balance_transactions) == 1
    assert stripe.Dispute.retrieve(dp.id).status == "lost"
    assert_delta(w.delta(None), "platform", total=941 - 1000 - DISPUTE_FEE)


def test_dispute_evidence_saved_without_submitting(uid):
    ch = charge_of(pay(1000, payment_method=PM_DISPUTE))
    dp = dispute_of(ch.id)
    upd = stripe.Dispute.modify(
        dp.id,
        evidence={"customer_name": "Jenny Rosen", "product_description": "A test product"},
        metadata={"case": uid},
        submit=False,
    )
    check(upd)
    assert upd.status == "needs_response"
    assert upd.evidence.customer_name == "Jenny Rosen"
    assert upd.evidence.product_description == "A test product"
    assert upd.metadata["case"] == uid
    assert upd.evidence_details.submission_count == 0
    assert upd.evidence_details.has_evidence is True
    got = stripe.Dispute.retrieve(dp.id)
    assert got.evidence.customer_name == "Jenny Rosen" and got.status == "needs_response"


def test_dispute_product_not_received_card():
    ch = charge_of(pay(1000, payment_method=PM_DISPUTE_PNR))
    dp = dispute_of(ch.id)
    assert (dp.reason, dp.status) == ("product_not_received", "needs_response")
    assert_withdrawal(dp.balance_transactions[0], 1000, dp.id)


def test_dispute_inquiry_withdraws_nothing():
    w = BalanceWatch(None)
    ch = charge_of(pay(1000, payment_method=PM_DISPUTE_INQUIRY))
    dp = dispute_of(ch.id)
    assert dp.status == "warning_needs_response"
    assert dp.balance_transactions == []
    assert_delta(w.delta(None), "platform", total=941)


def test_refunding_a_disputed_charge_is_refused():
    ch = charge_of(pay(1000, payment_method=PM_DISPUTE))
    dispute_of(ch.id)
    e = expect_error(stripe.InvalidRequestError, stripe.Refund.create, charge=ch.id, status=400)
    assert e.code in ("charge_disputed", "refund_disputed_payment"), e.code
    assert stripe.Charge.retrieve(ch.id).amount_refunded == 0


def test_dispute_on_destination_charge_debits_the_platform(custom_account):
    acct = custom_account.id
    w = BalanceWatch(None, acct)
    ch = charge_of(pay(1000, payment_method=PM_DISPUTE, transfer_data={"destination": acct}))
    dp = dispute_of(ch.id)
    assert_withdrawal(dp.balance_transactions[0], 1000, dp.id)
    # the transfer is not reversed: the account keeps its 1000, the platform pays for the dispute
    assert stripe.Transfer.retrieve(id_of(ch.transfer)).amount_reversed == 0
    assert_delta(w.delta(acct), "connected account", total=1000)
    assert_delta(w.delta(None), "platform", total=941 - 1000 - 1000 - DISPUTE_FEE)
    assert stripe.Dispute.list(charge=ch.id, stripe_account=acct).data == []


def test_dispute_on_direct_charge_debits_the_connected_account(fee_paying_account):
    acct = fee_paying_account.id
    w = BalanceWatch(None, acct)
    pi = pay(1000, payment_method=PM_DISPUTE, account=acct)
    ch = charge_of(pi, acct)
    dp = dispute_of(ch.id, account=acct)
    assert id_of(dp.charge) == ch.id and dp.status == "needs_response"
    assert_withdrawal(dp.balance_transactions[0], 1000, dp.id)
    # the dispute lives on the connected account
    expect_error(stripe.InvalidRequestError, stripe.Dispute.retrieve, dp.id, status=404, code="resource_missing")
    short = 1000 - stripe_fee(1000) - 1000 - DISPUTE_FEE
    assert_delta(w.delta(acct), "connected account", total=short)
    # The platform carries this account's losses: it reserves what the account is short of.
    platform = w.delta(None)
    assert_delta(platform, "platform", total=short)
    assert platform.connect_reserved.get("usd", 0) == -short

    # won on the account: reinstated there
    stripe.Dispute.modify(dp.id, evidence={"uncategorized_text": "winning_evidence"}, submit=True, stripe_account=acct)
    done = wait_status(dp.id, "won", account=acct)
    assert_reinstatement(done.balance_transactions[1], 1000, dp.id)
    assert_delta(w.delta(acct), "connected account", total=1000 - stripe_fee(1000))
    # Won: the account is whole again and the reserve goes back to the platform.
    platform = w.delta(None)
    assert_delta(platform, "platform", total=0)
    assert platform.connect_reserved.get("usd", 0) == 0
