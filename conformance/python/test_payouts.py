"""Payouts, the test clock, negative balance liability (issue 4), with the official SDK.

Every test here runs on its own platform (SLUICE_API_KEY_3): advancing a platform's test clock
moves time for all of that platform's objects, so the other suites keep their own clock.

Amounts (default pricing): a card charge of A costs 2.9% + 30 (half up); on a destination charge
without an application fee the connected account receives A and the platform pays the fee.
Instant payouts cost 1.5% of the amount, at least 50 cents.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

import pytest
import stripe

from helpers import as_dict, expect_error, raw
from money_helpers import (
    ACCOUNT_PAYS_FEES,
    PM_BYPASS_PENDING,
    PM_VISA,
    balance_of,
    onboarded_account,
    pay,
)
from openapi_check import check

API_KEY_3 = os.environ.get("SLUICE_API_KEY_3", "")
DAY = 86400

pytestmark = [
    pytest.mark.payouts,
    pytest.mark.skipif(not API_KEY_3, reason="needs SLUICE_API_KEY_3 (a platform of its own for the clock)"),
]


@pytest.fixture(autouse=True, scope="module")
def clock_platform():
    """Run this module's SDK calls as platform 3."""
    saved = stripe.api_key
    stripe.api_key = API_KEY_3
    yield
    stripe.api_key = saved


def clock_now() -> int:
    r = raw("GET", "/v1/test_helpers/clock", key=API_KEY_3)
    assert r.status == 200, r.body
    assert r.json["object"] == "test_clock_state"
    return r.json["now"]


def advance(seconds: int) -> dict[str, Any]:
    r = raw("POST", "/v1/test_helpers/clock/advance", key=API_KEY_3, form={"seconds": seconds})
    assert r.status == 200, r.body
    return r.json


def advance_to_next_midnight(extra_seconds: int = 60) -> int:
    now = clock_now()
    target = (now // DAY + 1) * DAY + extra_seconds
    r = raw("POST", "/v1/test_helpers/clock/advance", key=API_KEY_3, form={"to": target})
    assert r.status == 200, r.body
    return target


def account_with_schedule(schedule: dict[str, Any], controller: dict[str, Any] | None = None, **settings: Any) -> str:
    acct = onboarded_account("US", controller=controller)
    payouts = {"schedule": schedule}
    payouts.update(settings)
    updated = stripe.Account.modify(acct.id, settings={"payouts": payouts})
    check(updated)
    return acct.id


def destination_charge(account: str, amount: int, payment_method: str = PM_VISA) -> stripe.PaymentIntent:
    return pay(amount, "usd", payment_method, transfer_data={"destination": account})


def available(account: str | None, currency: str = "usd") -> int:
    return balance_of(account).available.get(currency, 0)


def pending(account: str | None, currency: str = "usd") -> int:
    return balance_of(account).pending.get(currency, 0)


def add_bank(account: str, account_number: str) -> str:
    bank = stripe.Account.create_external_account(
        account,
        external_account={
            "object": "bank_account",
            "country": "US",
            "currency": "usd",
            "routing_number": "110000000",
            "account_number": account_number,
        },
        default_for_currency=True,
    )
    check(bank)
    return bank.id


def payout_transactions(payout: str, account: str) -> list[stripe.BalanceTransaction]:
    txns = stripe.BalanceTransaction.list(payout=payout, limit=100, stripe_account=account)
    check(txns)
    return list(txns.auto_paging_iter())


# --- the clock ---------------------------------------------------------------------------------------


def test_clock_moves_forward_only_and_drives_created():
    before = clock_now()
    state = advance(3600)
    assert state["now"] >= before + 3600
    assert clock_now() >= before + 3600
    r = raw("POST", "/v1/test_helpers/clock/advance", key=API_KEY_3, form={"to": before})
    assert r.status == 400 and r.json["error"]["param"] == "to", r.body
    r = raw("POST", "/v1/test_helpers/clock/advance", key=API_KEY_3, form={"seconds": 0})
    assert r.status == 400 and r.json["error"]["type"] == "invalid_request_error", r.body
    r = raw("POST", "/v1/test_helpers/clock/advance", key=API_KEY_3, form={})
    assert r.status == 400 and r.json["error"]["param"] == "seconds", r.body
    cus = stripe.Customer.create()
    assert cus.created >= before + 3600, "created follows the platform's clock"


def test_funds_become_available_after_two_days():
    acct = account_with_schedule({"interval": "manual"})
    pi = destination_charge(acct, 1000)
    assert pending(acct) == 1000 and available(acct) == 0
    ch = stripe.Charge.retrieve(pi.latest_charge)
    transfer = stripe.Transfer.retrieve(ch.transfer)
    payment = stripe.Charge.retrieve(transfer.destination_payment, stripe_account=acct)
    bt = stripe.BalanceTransaction.retrieve(payment.balance_transaction, stripe_account=acct)
    assert bt.status == "pending"
    advance(DAY)
    assert available(acct) == 0, "not before available_on"
    advance(DAY + 60)
    assert available(acct) == 1000 and pending(acct) == 0
    bt = stripe.BalanceTransaction.retrieve(payment.balance_transaction, stripe_account=acct)
    assert bt.status == "available" and bt.available_on <= clock_now()
    announced = stripe.Event.list(type="balance.available", stripe_account=acct)
    check(announced)
    assert announced.data, "balance.available when the funds became available"
    event = announced.data[0]
    assert event.account == acct
    assert [(e.amount, e.currency) for e in event.data.object.available] == [(1000, "usd")]


# --- manual payouts ------------------------------------------------------------------------------------


def test_manual_payout_lifecycle_and_reconciliation():
    # The clock's time of day depends on the wall clock and earlier tests; start at 01:00 so the
    # two hours below stay inside the day the payout was made.
    advance_to_next_midnight(3600)
    acct = account_with_schedule({"interval": "manual"})
    destination_charge(acct, 5000, PM_BYPASS_PENDING)
    assert available(acct) == 5000
    expect_error(
        stripe.InvalidRequestError,
        stripe.Payout.create,
        amount=5001,
        currency="usd",
        stripe_account=acct,
        status=400,
        code="balance_insufficient",
    )
    po = stripe.Payout.create(amount=3000, currency="usd", stripe_account=acct, metadata={"run": "1"})
    check(po)
    assert po.status == "pending" and po.automatic is False and po.method == "standard"
    assert po.amount == 3000 and po.destination.startswith("ba_")
    assert available(acct) == 2000
    bt = stripe.BalanceTransaction.retrieve(po.balance_transaction, stripe_account=acct)
    assert (bt.type, bt.amount, bt.fee, bt.net, bt.source) == ("payout", -3000, 0, -3000, po.id)
    assert [t.id for t in payout_transactions(po.id, acct)] == [bt.id]
    updated = stripe.Payout.modify(po.id, metadata={"run": "2"}, stripe_account=acct)
    assert updated.metadata["run"] == "2"
    advance(2 * 3600)
    assert stripe.Payout.retrieve(po.id, stripe_account=acct).status == "in_transit"
    advance_to_next_midnight()
    paid = stripe.Payout.retrieve(po.id, stripe_account=acct)
    assert paid.status == "paid" and paid.arrival_date <= clock_now()
    assert available(acct) == 2000
    listed = stripe.Payout.list(status="paid", stripe_account=acct)
    assert [p.id for p in listed.data] == [po.id]
    kinds = [e.type for e in stripe.Event.list(stripe_account=acct, limit=100).auto_paging_iter() if getattr(e.data.object, "id", None) == po.id]
    for kind in ("payout.created", "payout.updated", "payout.paid"):
        assert kind in kinds, (kind, kinds)


def test_cancel_a_pending_payout_returns_the_funds():
    advance_to_next_midnight(3600)  # far from the bank's cut-off, whatever the wall clock says
    acct = account_with_schedule({"interval": "manual"})
    destination_charge(acct, 2000, PM_BYPASS_PENDING)
    po = stripe.Payout.create(amount=1500, currency="usd", stripe_account=acct)
    canceled = stripe.Payout.cancel(po.id, stripe_account=acct)
    check(canceled)
    assert canceled.status == "canceled"
    assert available(acct) == 2000
    expect_error(stripe.InvalidRequestError, stripe.Payout.cancel, po.id, stripe_account=acct, status=400)


@pytest.mark.parametrize(
    "account_number,failure_code",
    [
        ("000111111116", "no_account"),
        ("000111111113", "account_closed"),
        ("000222222227", "insufficient_funds"),
        ("000333333335", "debit_not_authorized"),
        ("000444444440", "invalid_currency"),
    ],
)
def test_failing_bank_accounts_fail_and_return_the_funds(account_number, failure_code):
    acct = account_with_schedule({"interval": "manual"})
    bank = add_bank(acct, account_number)
    destination_charge(acct, 4000, PM_BYPASS_PENDING)
    po = stripe.Payout.create(amount=4000, currency="usd", stripe_account=acct)
    assert po.destination == bank
    assert available(acct) == 0
    advance_to_next_midnight()
    failed = stripe.Payout.retrieve(po.id, stripe_account=acct)
    check(failed)
    assert failed.status == "failed" and failed.failure_code == failure_code and failed.failure_message
    back = stripe.BalanceTransaction.retrieve(failed.failure_balance_transaction, stripe_account=acct)
    assert (back.type, back.amount, back.net) == ("payout_failure", 4000, 4000)
    assert available(acct) == 4000
    failed_events = stripe.Event.list(type="payout.failed", stripe_account=acct).data
    assert [e.data.object.id for e in failed_events] == [po.id]
    assert failed_events[0].data.object.failure_code == failure_code


def test_payouts_need_payouts_enabled_and_a_manual_schedule():
    acct = stripe.Account.create(type="custom", country="US", capabilities={"transfers": {"requested": True}})
    expect_error(stripe.InvalidRequestError, stripe.Payout.create, amount=100, currency="usd", stripe_account=acct.id, status=400, code="payouts_not_allowed")
    daily = account_with_schedule({"interval": "daily"})
    expect_error(stripe.InvalidRequestError, stripe.Payout.create, amount=100, currency="usd", stripe_account=daily, status=400, code="payouts_not_allowed")


# --- instant payouts -------------------------------------------------------------------------------------


def test_instant_payout_to_a_debit_card_pays_the_fee():
    acct = account_with_schedule({"interval": "manual"})
    card = stripe.Account.create_external_account(acct, external_account="tok_visa_debit", default_for_currency=True)
    destination_charge(acct, 20000, PM_BYPASS_PENDING)
    before = balance_of(acct)
    assert before.available["usd"] == 20000
    po = stripe.Payout.create(amount=1000, currency="usd", method="instant", stripe_account=acct)
    check(po)
    assert po.method == "instant" and po.destination == card.id and po.type == "card"
    bt = stripe.BalanceTransaction.retrieve(po.balance_transaction, stripe_account=acct)
    assert (bt.amount, bt.fee, bt.net) == (-1000, 50, -1050), "1.5% of 1000 is 15: the 50 minimum applies"
    big = stripe.Payout.create(amount=10000, currency="usd", method="instant", stripe_account=acct)
    bt = stripe.BalanceTransaction.retrieve(big.balance_transaction, stripe_account=acct)
    assert (bt.amount, bt.fee, bt.net) == (-10000, 150, -10150)
    assert available(acct) == 20000 - 1050 - 10150
    advance(60)
    assert stripe.Payout.retrieve(po.id, stripe_account=acct).status == "paid"
    bank_only = account_with_schedule({"interval": "manual"})
    destination_charge(bank_only, 5000, PM_BYPASS_PENDING)
    expect_error(stripe.InvalidRequestError, stripe.Payout.create, amount=1000, currency="usd", method="instant", stripe_account=bank_only, status=400, param="method")


# --- automatic payouts ---------------------------------------------------------------------------------


def test_a_month_of_daily_automatic_payouts_reconciles():
    acct = account_with_schedule({"interval": "daily", "delay_days": 2})
    advance_to_next_midnight(3600)
    charged = 0
    for day in range(30):
        destination_charge(acct, 1000 + day)
        charged += 1000 + day
        advance(DAY)
    advance(3 * DAY)
    payouts = list(stripe.Payout.list(limit=100, stripe_account=acct).auto_paging_iter())
    assert all(p.automatic for p in payouts)
    assert len(payouts) >= 28, "one payout a day once funds are available: %d" % len(payouts)
    assert sum(p.amount for p in payouts) == charged
    assert available(acct) == 0 and pending(acct) == 0
    for p in payouts:
        assert p.status == "paid" and p.reconciliation_status == "completed"
        txns = payout_transactions(p.id, acct)
        own = [t for t in txns if t.type == "payout"]
        assert [t.id for t in own] == [p.balance_transaction]
        assert sum(t.net for t in txns if t.type != "payout") == p.amount


def _weekday(ts: int) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%A").lower()


def test_weekly_anchor_pays_on_its_day_only():
    acct = account_with_schedule({"interval": "weekly", "weekly_anchor": "friday"})
    for _ in range(3):
        destination_charge(acct, 700)
        advance(4 * DAY)
    payouts = list(stripe.Payout.list(limit=100, stripe_account=acct).auto_paging_iter())
    assert payouts, "at least one friday passed with available funds"
    assert {_weekday(p.created) for p in payouts} == {"friday"}


def test_monthly_anchor_pays_on_its_day_only():
    acct = account_with_schedule({"interval": "monthly", "monthly_anchor": 15})
    destination_charge(acct, 900)
    advance(40 * DAY)
    payouts = list(stripe.Payout.list(limit=100, stripe_account=acct).auto_paging_iter())
    assert len(payouts) == 1 and payouts[0].amount == 900
    day = datetime.datetime.fromtimestamp(payouts[0].created, datetime.timezone.utc).day
    assert day == 15


# --- negative balances -----------------------------------------------------------------------------------


def reserved(currency: str = "usd") -> int:
    bal = stripe.Balance.retrieve()
    check(bal)
    return sum(e.amount for e in bal.connect_reserved if e.currency == currency)


def test_platform_liable_negative_balance_is_reserved_then_released():
    acct = account_with_schedule({"interval": "manual"}, debit_negative_balances=False)
    pi = destination_charge(acct, 3000, PM_BYPASS_PENDING)
    stripe.Payout.create(amount=3000, currency="usd", stripe_account=acct)
    held_before = reserved()
    platform_before = available(None)
    stripe.Refund.create(payment_intent=pi.id, reverse_transfer=True)
    assert available(acct) == -3000
    assert reserved() == held_before + 3000
    assert available(None) == platform_before - 3000 + 3000 - 3000, "refund of 3000 paid by the reversal, 3000 moved to the reserve"
    destination_charge(acct, 5000, PM_BYPASS_PENDING)
    assert available(acct) == 2000
    advance(60)
    assert reserved() == held_before, "the reserve is released once the account earned again"


def test_debit_negative_balances_pulls_from_the_bank():
    acct = account_with_schedule({"interval": "daily"}, debit_negative_balances=True)
    pi = destination_charge(acct, 2500, PM_BYPASS_PENDING)
    advance_to_next_midnight()
    assert available(acct) == 0
    stripe.Refund.create(payment_intent=pi.id, reverse_transfer=True)
    assert available(acct) == -2500
    advance_to_next_midnight()
    assert available(acct) == 0
    payouts = stripe.Payout.list(limit=10, stripe_account=acct).data
    debit = payouts[0]
    assert debit.amount == -2500 and debit.automatic
    advance_to_next_midnight()
    assert stripe.Payout.retrieve(debit.id, stripe_account=acct).status == "paid"
    assert reserved() >= 0


# --- Connect pricing when the platform pays the fees ---------------------------------------------------


def test_platform_pays_connect_fees_on_payouts_to_accounts_whose_fees_it_pays():
    acct = account_with_schedule({"interval": "manual"})  # a custom account: the platform pays
    destination_charge(acct, 30000, PM_BYPASS_PENDING)
    advance_to_next_midnight()
    since = clock_now() - 60

    def connect_fees() -> list[Any]:
        fees = stripe.BalanceTransaction.list(type="stripe_fee", created={"gte": since}, limit=100)
        check(fees)
        return [t for t in fees.auto_paging_iter() if acct in (t.description or "")]

    first = stripe.Payout.create(amount=10000, currency="usd", stripe_account=acct)
    fees = connect_fees()
    by_kind = {("payout" if "payout fee" in t.description else "active"): t for t in fees}
    assert set(by_kind) == {"payout", "active"}, [t.description for t in fees]
    assert by_kind["payout"].amount == -(25 + 25), "0.25% of 10000 plus 25 cents"
    assert first.id in by_kind["payout"].description
    assert by_kind["active"].amount == -200
    assert by_kind["active"].reporting_category == "fee"
    stripe.Payout.create(amount=1000, currency="usd", stripe_account=acct)
    fees = connect_fees()
    assert sorted(t.amount for t in fees) == sorted([-50, -200, -(3 + 25)]), "the active-account fee once a month"
    # An account that pays its own fees costs the platform nothing.
    own = account_with_schedule({"interval": "manual"}, controller=ACCOUNT_PAYS_FEES)
    pay(5000, "usd", PM_BYPASS_PENDING, account=own)
    before = stripe.BalanceTransaction.list(type="stripe_fee", limit=100)
    stripe.Payout.create(amount=1000, currency="usd", stripe_account=own)
    after = stripe.BalanceTransaction.list(type="stripe_fee", limit=100)
    assert [t.id for t in after.data] == [t.id for t in before.data]
