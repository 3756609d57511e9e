"""Balances and balance transactions: /v1/balance with and without Stripe-Account (available,
pending, connect_reserved, per currency), availability (default pending ~2 days vs
pm_card_bypassPending), /v1/balance_transactions list filters, retrieve, expand source; and
money conservation across a mixed sequence of flows.
"""

from __future__ import annotations

import time

import stripe

from conftest_money import custom_account, fee_paying_account  # noqa: F401 (pytest fixtures)
from helpers import expect_error
from money_helpers import (
    DAY,
    PM_BYPASS_PENDING,
    BalanceWatch,
    application_fee_of,
    assert_available,
    assert_bt,
    assert_delta,
    assert_pending,
    balance_transaction,
    charge_bt,
    charge_of,
    id_of,
    money_marks,
    pay,
    stripe_fee,
)
from openapi_check import check

pytestmark = money_marks("balance")


def test_platform_balance_shape():
    pay(1000)  # make sure usd funds exist
    b = stripe.Balance.retrieve()
    check(b)
    assert b.object == "balance" and b.livemode is False
    for key in ("available", "pending"):
        entries = b[key]
        assert isinstance(entries, list) and entries, key
        for e in entries:
            assert isinstance(e.amount, int), e
            assert isinstance(e.currency, str) and len(e.currency) == 3 and e.currency == e.currency.lower(), e
        assert len({e.currency for e in entries}) == len(entries), "one entry per currency in %s" % key
    assert "usd" in {e.currency for e in b.pending}
    # the platform's balance reports connect_reserved (0 is fine)
    assert "connect_reserved" in b, "platform balance without connect_reserved"
    for e in b.connect_reserved:
        assert isinstance(e.amount, int) and isinstance(e.currency, str), e


def test_fresh_connected_account_has_an_empty_balance(custom_account):
    acct = custom_account.id
    b = stripe.Balance.retrieve(stripe_account=acct)
    check(b)
    assert b.object == "balance"
    assert all(e.amount == 0 for e in list(b.available) + list(b.pending)), b
    lst = stripe.BalanceTransaction.list(stripe_account=acct)
    check(lst)
    assert lst.data == [] and lst.has_more is False


def test_default_charge_is_pending_for_about_two_days():
    w = BalanceWatch(None)
    bt = charge_bt(charge_of(pay(1000)))
    assert_bt(bt, type="charge", amount=1000, fee=59, net=941)
    assert_pending(bt)
    assert bt.available_on >= bt.created + DAY  # ~2 days (00:00 UTC of that day is fine)
    assert_delta(w.delta(None), "platform", available=0, pending=941)


def test_bypass_pending_card_is_available_at_once():
    w = BalanceWatch(None)
    bt = charge_bt(charge_of(pay(1000, payment_method=PM_BYPASS_PENDING)))
    assert_bt(bt, type="charge", amount=1000, fee=59, net=941)
    assert_available(bt)
    assert_delta(w.delta(None), "platform", available=941, pending=0)


def test_usd_and_eur_settle_in_their_own_currency():
    w = BalanceWatch(None)
    usd = charge_bt(charge_of(pay(1000)))
    eur = charge_bt(charge_of(pay(2000, currency="eur", payment_method=PM_BYPASS_PENDING)))
    assert_bt(usd, type="charge", amount=1000, fee=59, net=941, currency="usd")
    # default pricing (2.9% + 30 minor units) applies to every currency
    assert_bt(eur, type="charge", amount=2000, fee=stripe_fee(2000), net=2000 - stripe_fee(2000), currency="eur")
    assert eur.exchange_rate is None  # no conversion
    d = w.delta(None)
    assert (d.available.get("usd", 0), d.pending.get("usd", 0)) == (0, 941), d
    assert (d.available.get("eur", 0), d.pending.get("eur", 0)) == (2000 - stripe_fee(2000), 0), d
    assert set(d.available) | set(d.pending) <= {"usd", "eur"}, d
    b = stripe.Balance.retrieve()
    assert "eur" in {e.currency for e in b.available}


def test_balance_transactions_list_filters():
    ch1 = charge_of(pay(1000))
    ch2 = charge_of(pay(2000, currency="eur"))
    refund = stripe.Refund.create(charge=ch1.id, amount=100)
    bt1, bt2 = charge_bt(ch1), charge_bt(ch2)
    rbt = balance_transaction(refund.balance_transaction)
    ours = [rbt.id, bt2.id, bt1.id]  # newest first

    # source: only the original transaction of that object
    lst = stripe.BalanceTransaction.list(source=ch1.id)
    check(lst)
    assert lst.url == "/v1/balance_transactions"
    assert [t.id for t in lst.data] == [bt1.id]

    # type
    refunds = stripe.BalanceTransaction.list(type="refund", limit=5)
    check(refunds)
    assert refunds.data and all(t.type == "refund" for t in refunds.data)
    assert refunds.data[0].id == rbt.id
    charges = stripe.BalanceTransaction.list(type="charge", limit=10)
    assert all(t.type == "charge" for t in charges.data)
    assert [t.id for t in charges.data][:2] == [bt2.id, bt1.id]

    # currency
    eur = stripe.BalanceTransaction.list(currency="eur", limit=10)
    check(eur)
    assert eur.data and all(t.currency == "eur" for t in eur.data)
    assert eur.data[0].id == bt2.id

    # created window: ours are in it, newest first
    window = stripe.BalanceTransaction.list(created={"gte": bt1.created, "lte": rbt.created}, limit=100)
    check(window)
    assert all(bt1.created <= t.created <= rbt.created for t in window.data)
    assert [t.id for t in window.data if t.id in ours] == ours
    future = stripe.BalanceTransaction.list(created={"gt": int(time.time()) + 3600})
    assert future.data == [] and future.has_more is False

    # paging
    page = stripe.BalanceTransaction.list(limit=1)
    assert len(page.data) == 1 and page.has_more is True
    nxt = stripe.BalanceTransaction.list(limit=1, starting_after=page.data[0].id)
    assert len(nxt.data) == 1 and nxt.data[0].id != page.data[0].id
    assert nxt.data[0].created <= page.data[0].created


def test_balance_transaction_retrieve_and_expand_source():
    ch = charge_of(pay(1000))
    plain = stripe.BalanceTransaction.retrieve(id_of(ch.balance_transaction))
    check(plain)
    assert plain.source == ch.id
    assert plain.reporting_category == "charge"
    expanded = stripe.BalanceTransaction.retrieve(plain.id, expand=["source"])
    check(expanded)
    assert expanded.source.object == "charge" and expanded.source.id == ch.id
    assert expanded.source.amount == 1000
    lst = stripe.BalanceTransaction.list(source=ch.id, expand=["data.source"])
    check(lst)
    assert lst.data[0].source.id == ch.id
    expect_error(stripe.InvalidRequestError, stripe.BalanceTransaction.retrieve, "txn_doesnotexist0000", status=404, code="resource_missing")


def test_connected_account_balance_transactions_are_its_own(custom_account):
    acct = custom_account.id
    ch = charge_of(pay(1000, transfer_data={"destination": acct, "amount": 900}))
    tr = stripe.Transfer.retrieve(id_of(ch.transfer))
    py = stripe.Charge.retrieve(id_of(tr.destination_payment), stripe_account=acct)
    pbt = balance_transaction(py.balance_transaction, acct)
    assert_bt(pbt, type="payment", amount=900, fee=0, net=900, source=py.id)
    lst = stripe.BalanceTransaction.list(stripe_account=acct)
    check(lst)
    assert [t.id for t in lst.data] == [pbt.id]
    assert [t.id for t in stripe.BalanceTransaction.list(type="payment", stripe_account=acct).data] == [pbt.id]
    assert stripe.BalanceTransaction.list(type="charge", stripe_account=acct).data == []
    # the platform cannot read it as its own
    expect_error(stripe.InvalidRequestError, stripe.BalanceTransaction.retrieve, pbt.id, status=404, code="resource_missing")
    b = stripe.Balance.retrieve(stripe_account=acct)
    assert {e.currency: e.amount for e in b.pending}.get("usd") == 900


def test_money_is_conserved_across_a_mixed_sequence(custom_account, fee_paying_account, uid):
    """customer payments == platform delta + connected accounts' deltas + operator fees."""
    a, b = custom_account.id, fee_paying_account.id
    group = "order_" + uid
    w = BalanceWatch(None, a, b)

    # 1. a platform charge, later split by a transfer
    p1 = charge_of(pay(2000, transfer_group=group))
    # 2. a destination charge to A with a 200 application fee
    d = charge_of(pay(1000, application_fee_amount=200, transfer_data={"destination": a}))
    # 3. a direct charge on B (B pays its fees) with a 100 application fee
    direct = charge_of(pay(1234, account=b, application_fee_amount=100), b)
    application_fee_of(direct)
    # 4. a separate transfer of 500 to A, funded by charge 1
    t = stripe.Transfer.create(amount=500, currency="usd", destination=a, source_transaction=p1.id, transfer_group=group)
    # 5. a partial refund of the destination charge, reversing transfer and fee in proportion
    stripe.Refund.create(charge=d.id, amount=300, reverse_transfer=True, refund_application_fee=True)
    assert stripe.ApplicationFee.retrieve(id_of(d.application_fee)).amount_refunded == 60  # 300/1000 of 200
    # 6. a partial reversal of the separate transfer
    stripe.Transfer.create_reversal(t.id, amount=200)

    customers = 2000 + 1000 + 1234 - 300
    operator = stripe_fee(2000) + stripe_fee(1000) + stripe_fee(1234)  # 88 + 59 + 66; refunds return no fee
    platform = (2000 - 88) + (1000 - 59 - 1000 + 200) + 100 - 500 + (-300 + 300 - 60) + 200
    acct_a = (1000 - 200) + 500 + (-300 + 60) - 200
    acct_b = 1234 - 66 - 100
    assert (platform, acct_a, acct_b, operator) == (1793, 860, 1068, 213)

    got_platform = w.delta(None).total("usd")
    got_a = w.delta(a).total("usd")
    got_b = w.delta(b).total("usd")
    assert (got_platform, got_a, got_b) == (platform, acct_a, acct_b), (
        "balance changes (platform, A, B) = %r, expected %r" % ((got_platform, got_a, got_b), (platform, acct_a, acct_b))
    )
    # what the customers paid is exactly what everyone received, the operator's fees included
    assert customers == got_platform + got_a + got_b + operator
