"""Separate charges and transfers: /v1/transfers create, retrieve, update, list; transfer_group;
source_transaction (works while the charge's funds are pending, and the funds follow the
charge's availability); balance_insufficient; reversals, full and partial, on both sides.
"""

from __future__ import annotations

import stripe

from conftest_money import custom_account, custom_account_2  # noqa: F401 (pytest fixtures)
from helpers import expect_error
from money_helpers import (
    BalanceWatch,
    assert_available,
    assert_bt,
    assert_delta,
    assert_pending,
    balance_of,
    balance_transaction,
    charge_bt,
    charge_of,
    fund_platform_available,
    id_of,
    money_marks,
    pay,
    stripe_fee,
)
from openapi_check import check

pytestmark = money_marks("transfers")


def destination_payment_bt(tr, acct):
    """The connected account's side of a transfer: its payment (py_) and balance transaction."""
    py_id = id_of(tr.destination_payment)
    assert isinstance(py_id, str) and py_id.startswith("py_"), tr.destination_payment
    py = stripe.Charge.retrieve(py_id, stripe_account=acct)
    check(py)
    assert py.amount == tr.amount and py.currency == tr.currency
    return balance_transaction(py.balance_transaction, acct)


def test_transfer_create_retrieve_update_list(custom_account, uid):
    acct = custom_account.id
    fund_platform_available(700)
    group = "order_" + uid
    w = BalanceWatch(None, acct)

    tr = stripe.Transfer.create(
        amount=700,
        currency="usd",
        destination=acct,
        transfer_group=group,
        description="seller share",
        metadata={"order": uid},
    )
    check(tr)
    assert tr.id.startswith("tr_") and tr.object == "transfer"
    assert (tr.amount, tr.currency, id_of(tr.destination)) == (700, "usd", acct)
    assert (tr.amount_reversed, tr.reversed) == (0, False)
    assert tr.reversals.object == "list" and tr.reversals.data == []
    assert tr.reversals.url == "/v1/transfers/%s/reversals" % tr.id
    assert tr.transfer_group == group and tr.description == "seller share"
    assert tr.metadata.to_dict() == {"order": uid}
    assert tr.source_transaction is None and tr.livemode is False

    # platform: -700 from available; account: +700, available at once (no source_transaction)
    tbt = balance_transaction(tr.balance_transaction)
    assert_bt(tbt, type="transfer", amount=-700, fee=0, net=-700, source=tr.id)
    pbt = destination_payment_bt(tr, acct)
    assert_bt(pbt, type="payment", amount=700, fee=0, net=700)
    assert_available(pbt)
    assert_delta(w.delta(None), "platform", available=-700, pending=0)
    assert_delta(w.delta(acct), "connected account", available=700, pending=0)

    up = stripe.Transfer.modify(tr.id, description="updated", metadata={"order": "", "k": "v"})
    check(up)
    assert up.description == "updated" and up.metadata.to_dict() == {"k": "v"}
    assert up.amount == 700 and up.balance_transaction == tr.balance_transaction
    got = stripe.Transfer.retrieve(tr.id)
    check(got)
    assert (got.description, got.amount, id_of(got.destination)) == ("updated", 700, acct)

    by_dest = stripe.Transfer.list(destination=acct)
    check(by_dest)
    assert by_dest.url == "/v1/transfers"
    assert [t.id for t in by_dest.data] == [tr.id]
    assert [t.id for t in stripe.Transfer.list(transfer_group=group).data] == [tr.id]
    expect_error(stripe.InvalidRequestError, stripe.Transfer.retrieve, "tr_doesnotexist0000", status=404, code="resource_missing")


def test_transfer_with_source_transaction_follows_the_charge(custom_account, uid):
    acct = custom_account.id
    group = "order_" + uid
    w = BalanceWatch(None, acct)
    pi = pay(1000, transfer_group=group)
    assert pi.transfer_group == group
    ch = charge_of(pi)
    assert ch.transfer_group == group
    cbt = charge_bt(ch)
    assert_pending(cbt)

    # the charge's funds are still pending: the transfer is accepted anyway
    tr = stripe.Transfer.create(amount=600, currency="usd", destination=acct, source_transaction=ch.id, transfer_group=group)
    check(tr)
    assert id_of(tr.source_transaction) == ch.id and tr.transfer_group == group
    assert_bt(balance_transaction(tr.balance_transaction), type="transfer", amount=-600, fee=0, net=-600, source=tr.id)
    pbt = destination_payment_bt(tr, acct)
    assert_bt(pbt, type="payment", amount=600, fee=0, net=600)
    # ... and the account's funds become available only when the charge's do
    assert_pending(pbt)
    assert pbt.available_on >= cbt.available_on
    assert_delta(w.delta(acct), "connected account", available=0, pending=600)
    assert_delta(w.delta(None), "platform", available=0, pending=941 - 600)
    assert [t.id for t in stripe.Transfer.list(transfer_group=group).data] == [tr.id]

    # a transfer cannot take more than its source charge
    expect_error(
        stripe.InvalidRequestError,
        stripe.Transfer.create,
        amount=1001,
        currency="usd",
        destination=acct,
        source_transaction=ch.id,
        status=400,
    )
    assert_delta(w.delta(acct), "connected account", total=600)


def test_transfer_group_splits_one_charge_between_accounts(custom_account, custom_account_2, uid):
    a1, a2 = custom_account.id, custom_account_2.id
    group = "order_" + uid
    w = BalanceWatch(None, a1, a2)
    ch = charge_of(pay(2000, transfer_group=group))
    t1 = stripe.Transfer.create(amount=1200, currency="usd", destination=a1, transfer_group=group, source_transaction=ch.id)
    t2 = stripe.Transfer.create(amount=500, currency="usd", destination=a2, transfer_group=group, source_transaction=ch.id)
    lst = stripe.Transfer.list(transfer_group=group)
    check(lst)
    assert [t.id for t in lst.data] == [t2.id, t1.id]
    assert_delta(w.delta(a1), "account 1", available=0, pending=1200)
    assert_delta(w.delta(a2), "account 2", available=0, pending=500)
    # the platform keeps 2000 - 88 - 1200 - 500 = 212
    assert_delta(w.delta(None), "platform", available=0, pending=2000 - stripe_fee(2000) - 1700)


def test_transfer_above_available_balance_is_refused(custom_account):
    acct = custom_account.id
    available = balance_of(None).available.get("usd", 0)
    w = BalanceWatch(None, acct)
    expect_error(
        stripe.InvalidRequestError,
        stripe.Transfer.create,
        amount=max(available, 0) + 100_000,
        currency="usd",
        destination=acct,
        status=400,
        code="balance_insufficient",
    )
    assert stripe.Transfer.list(destination=acct).data == []
    assert_delta(w.delta(None), "platform", total=0)
    assert_delta(w.delta(acct), "connected account", total=0)


def test_transfer_to_unknown_destination_is_refused():
    fund_platform_available(100)
    w = BalanceWatch(None)
    expect_error(stripe.InvalidRequestError, stripe.Transfer.create, amount=100, currency="usd", destination="acct_doesnotexist0000", status=400)
    assert_delta(w.delta(None), "platform", total=0)


def test_transfer_reversals_partial_then_full(custom_account):
    acct = custom_account.id
    fund_platform_available(1000)
    tr = stripe.Transfer.create(amount=1000, currency="usd", destination=acct)
    w = BalanceWatch(None, acct)

    rev = stripe.Transfer.create_reversal(tr.id, amount=300, metadata={"reason": "partial"})
    check(rev)
    assert rev.id.startswith("trr_") and rev.object == "transfer_reversal"
    assert (rev.amount, rev.currency, id_of(rev.transfer)) == (300, "usd", tr.id)
    assert rev.metadata["reason"] == "partial"
    # platform side: +300 back
    assert_bt(balance_transaction(rev.balance_transaction), type="transfer_refund", amount=300, fee=0, net=300, source=rev.id)
    # account side: a refund of its payment (pyr_), -300
    pyr = id_of(rev.destination_payment_refund)
    assert isinstance(pyr, str) and pyr.startswith("pyr_"), rev.destination_payment_refund
    refund = stripe.Refund.retrieve(pyr, stripe_account=acct)
    check(refund)
    assert refund.amount == 300
    assert_bt(balance_transaction(refund.balance_transaction, acct), type="payment_refund", amount=-300, fee=0, net=-300)
    got = stripe.Transfer.retrieve(tr.id)
    check(got)
    assert (got.amount, got.amount_reversed, got.reversed) == (1000, 300, False)
    assert [r.id for r in got.reversals.data] == [rev.id]
    assert_delta(w.delta(None), "platform", available=300, pending=0)
    assert_delta(w.delta(acct), "connected account", available=-300, pending=0)

    # no more than what is left
    expect_error(stripe.InvalidRequestError, stripe.Transfer.create_reversal, tr.id, amount=701, status=400)
    lst = stripe.Transfer.list_reversals(tr.id)
    check(lst)
    assert lst.url == "/v1/transfers/%s/reversals" % tr.id
    assert [r.id for r in lst.data] == [rev.id]
    one = stripe.Transfer.retrieve_reversal(tr.id, rev.id)
    check(one)
    assert one.amount == 300
    upd = stripe.Transfer.modify_reversal(tr.id, rev.id, metadata={"reason": "updated"})
    check(upd)
    assert upd.metadata["reason"] == "updated" and upd.amount == 300

    # no amount: reverse the rest
    rest = stripe.Transfer.create_reversal(tr.id)
    check(rest)
    assert rest.amount == 700
    got = stripe.Transfer.retrieve(tr.id)
    assert (got.amount_reversed, got.reversed) == (1000, True)
    assert [r.id for r in stripe.Transfer.list_reversals(tr.id).data] == [rest.id, rev.id]
    expect_error(stripe.InvalidRequestError, stripe.Transfer.create_reversal, tr.id, amount=1, status=400)
    assert_delta(w.delta(None), "platform", available=1000, pending=0)
    assert_delta(w.delta(acct), "connected account", available=-1000, pending=0)
