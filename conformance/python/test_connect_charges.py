"""The Connect charge types with fees, as Stripe documents them, amounts on every side:

* direct charges (Stripe-Account header): the charge lives on the connected account; the
  application fee goes to the platform; the processing fee is paid by the account when
  controller.fees.payer=account (the seed's worked example), by the platform otherwise;
* destination charges (transfer_data[destination], optional transfer_data[amount] and
  on_behalf_of): the charge lives on the platform, which pays the processing fee; a transfer
  (tr_) creates the account's payment (py_), from which the application fee is taken;
* /v1/application_fees: list, retrieve, refunds.

The operator's share is what the customer paid minus what the platform and the account got.
"""

from __future__ import annotations

import stripe

from conftest_money import custom_account, fee_paying_account  # noqa: F401 (pytest fixtures)
from helpers import expect_error
from money_helpers import (
    PM_BYPASS_PENDING,
    BalanceWatch,
    assert_available,
    assert_bt,
    assert_delta,
    assert_pending,
    application_fee_of,
    balance_transaction,
    charge_bt,
    charge_of,
    id_of,
    money_marks,
    pay,
    stripe_fee,
)
from openapi_check import check

pytestmark = money_marks("connect_charges")


# --- direct charges -------------------------------------------------------------------------------


def test_worked_example_direct_charge_account_pays_fees(fee_paying_account):
    """DESIGN.md: customer pays $10.00; $1.23 application fee to the platform; $0.59 processing
    fee to the operator; $8.18 net to the connected account."""
    acct = fee_paying_account.id
    assert fee_paying_account.controller.fees.payer == "account"
    w = BalanceWatch(None, acct)

    pi = pay(1000, account=acct, application_fee_amount=123)
    assert pi.application_fee_amount == 123
    ch = charge_of(pi, acct)
    assert ch.amount == 1000 and ch.captured is True and ch.application_fee_amount == 123

    # the account's charge balance transaction: amount 1000, fee 182 (59 + 123), net 818
    bt = charge_bt(ch, acct)
    assert_bt(
        bt,
        type="charge",
        amount=1000,
        fee=182,
        net=818,
        fee_details={"stripe_fee": 59, "application_fee": 123},
        source=ch.id,
        reporting_category="charge",
    )
    assert_pending(bt)

    # the platform receives the application fee: an ApplicationFee and a balance transaction of 123
    fee = application_fee_of(ch)
    check(fee)
    assert fee.id.startswith("fee_") and fee.object == "application_fee"
    assert id_of(fee.account) == acct
    assert id_of(fee.charge) == ch.id
    assert (fee.amount, fee.amount_refunded, fee.refunded, fee.currency) == (123, 0, False, "usd")
    assert fee.originating_transaction is None  # only set for destination charges
    assert isinstance(id_of(fee.application), str) and id_of(fee.application)
    assert id_of(charge_of(pi, acct).application_fee) == fee.id
    fbt = balance_transaction(fee.balance_transaction)
    assert_bt(fbt, type="application_fee", amount=123, fee=0, net=123, source=fee.id)
    assert_pending(fbt)

    # /v1/application_fees lists it, with account, charge and amount
    lst = stripe.ApplicationFee.list(limit=5)
    check(lst)
    assert lst.url == "/v1/application_fees"
    listed = {f.id: f for f in lst.data}
    assert fee.id in listed, "application fee %s not listed" % fee.id
    assert (id_of(listed[fee.id].account), id_of(listed[fee.id].charge), listed[fee.id].amount) == (acct, ch.id, 123)
    assert stripe.ApplicationFee.retrieve(fee.id).amount == 123

    # balances: account +818 pending, platform +123 pending; operator keeps 1000 - 818 - 123 = 59
    assert_delta(w.delta(acct), "connected account", available=0, pending=818)
    assert_delta(w.delta(None), "platform", available=0, pending=123)
    assert 1000 - 818 - 123 == stripe_fee(1000)


def test_direct_charge_lives_on_the_connected_account(fee_paying_account):
    acct = fee_paying_account.id
    pi = pay(1000, account=acct)
    ch = charge_of(pi, acct)
    # the platform's own view has neither the PaymentIntent nor the charge
    expect_error(stripe.InvalidRequestError, stripe.PaymentIntent.retrieve, pi.id, status=404, code="resource_missing")
    expect_error(stripe.InvalidRequestError, stripe.Charge.retrieve, ch.id, status=404, code="resource_missing")
    assert [p.id for p in stripe.PaymentIntent.list(limit=5, stripe_account=acct).data] == [pi.id]
    assert [c.id for c in stripe.Charge.list(limit=5, stripe_account=acct).data] == [ch.id]
    # no application fee: the account keeps everything but the processing fee
    assert ch.application_fee is None and ch.application_fee_amount is None
    assert_bt(charge_bt(ch, acct), type="charge", amount=1000, fee=59, net=941, fee_details={"stripe_fee": 59})


def test_direct_charge_platform_pays_processing_fee_for_custom_account(custom_account):
    """controller.fees.payer application(_custom): the platform pays the processing fee of the
    account's direct charges; the account's charge shows only the application fee."""
    acct = custom_account.id
    assert custom_account.controller.fees.payer.startswith("application")
    w = BalanceWatch(None, acct)
    pi = pay(1000, account=acct, application_fee_amount=123)
    ch = charge_of(pi, acct)
    bt = charge_bt(ch, acct)
    assert_bt(bt, type="charge", amount=1000, fee=123, net=877, fee_details={"application_fee": 123}, source=ch.id)
    assert_pending(bt)
    fee = application_fee_of(ch)
    assert fee.amount == 123
    assert_delta(w.delta(acct), "connected account", available=0, pending=877)
    # platform: +123 application fee, -59 processing fee
    assert_delta(w.delta(None), "platform", total=123 - stripe_fee(1000))


def test_direct_charge_bypass_pending_is_available_to_the_account(fee_paying_account):
    acct = fee_paying_account.id
    w = BalanceWatch(None, acct)
    pi = pay(2000, payment_method=PM_BYPASS_PENDING, account=acct, application_fee_amount=200)
    ch = charge_of(pi, acct)
    bt = charge_bt(ch, acct)
    assert_bt(bt, type="charge", amount=2000, fee=88 + 200, net=1712, fee_details={"stripe_fee": 88, "application_fee": 200})
    assert_available(bt)
    assert_delta(w.delta(acct), "connected account", available=1712, pending=0)
    application_fee_of(ch)
    assert_delta(w.delta(None), "platform", total=200)


def test_application_fee_larger_than_amount_is_rejected(fee_paying_account):
    acct = fee_paying_account.id
    w = BalanceWatch(None, acct)
    expect_error(
        stripe.InvalidRequestError,
        stripe.PaymentIntent.create,
        amount=1000,
        currency="usd",
        payment_method="pm_card_visa",
        payment_method_types=["card"],
        confirm=True,
        application_fee_amount=1001,
        stripe_account=acct,
        status=400,
    )
    assert_delta(w.delta(acct), "connected account", total=0)
    assert_delta(w.delta(None), "platform", total=0)


# --- destination charges ----------------------------------------------------------------------------


def _destination_legs(ch, acct, transfer_amount):
    """The transfer of a destination charge and the connected account's payment (py_)."""
    tr = stripe.Transfer.retrieve(id_of(ch.transfer))
    check(tr)
    assert tr.id.startswith("tr_") and tr.object == "transfer"
    assert tr.amount == transfer_amount and tr.currency == "usd"
    assert id_of(tr.destination) == acct
    assert id_of(tr.source_transaction) == ch.id
    assert (tr.amount_reversed, tr.reversed) == (0, False)
    tbt = balance_transaction(tr.balance_transaction)
    assert_bt(tbt, type="transfer", amount=-transfer_amount, fee=0, net=-transfer_amount, source=tr.id)
    py_id = id_of(tr.destination_payment)
    assert isinstance(py_id, str) and py_id.startswith("py_"), tr.destination_payment
    py = stripe.Charge.retrieve(py_id, stripe_account=acct)
    check(py)
    assert py.amount == transfer_amount and py.currency == "usd"
    return tr, py


def test_destination_charge_with_application_fee(custom_account):
    acct = custom_account.id
    w = BalanceWatch(None, acct)
    pi = pay(1000, application_fee_amount=123, transfer_data={"destination": acct})
    assert pi.transfer_data.destination == acct and pi.application_fee_amount == 123
    ch = charge_of(pi)  # on the platform
    assert ch.transfer_data.destination == acct

    # platform: the charge (1000, fee 59, net 941) ...
    bt = charge_bt(ch)
    assert_bt(bt, type="charge", amount=1000, fee=59, net=941, fee_details={"stripe_fee": 59}, source=ch.id)
    assert_pending(bt)
    # ... a transfer of the full 1000 to the account ...
    tr, py = _destination_legs(ch, acct, 1000)
    # ... whose payment pays the application fee: amount 1000, fee 123, net 877
    pbt = balance_transaction(py.balance_transaction, acct)
    assert_bt(pbt, type="payment", amount=1000, fee=123, net=877, fee_details={"application_fee": 123}, source=py.id)
    assert_pending(pbt)
    # ... and the platform's application fee of 123
    fee = stripe.ApplicationFee.retrieve(id_of(ch.application_fee))
    check(fee)
    assert fee.amount == 123 and id_of(fee.account) == acct
    assert id_of(fee.charge) == py.id
    assert id_of(fee.originating_transaction) == ch.id
    fbt = balance_transaction(fee.balance_transaction)
    assert_bt(fbt, type="application_fee", amount=123, fee=0, net=123, source=fee.id)

    # account +877; platform 941 - 1000 + 123 = 64; operator 59; all still pending
    assert_delta(w.delta(acct), "connected account", available=0, pending=877)
    assert_delta(w.delta(None), "platform", available=0, pending=64)
    assert 1000 - 877 - 64 == stripe_fee(1000)


def test_destination_charge_with_transfer_data_amount(custom_account):
    acct = custom_account.id
    w = BalanceWatch(None, acct)
    pi = pay(1000, transfer_data={"destination": acct, "amount": 877})
    assert pi.transfer_data.amount == 877
    ch = charge_of(pi)
    assert ch.application_fee is None and ch.application_fee_amount is None
    assert_bt(charge_bt(ch), type="charge", amount=1000, fee=59, net=941)
    tr, py = _destination_legs(ch, acct, 877)
    pbt = balance_transaction(py.balance_transaction, acct)
    assert_bt(pbt, type="payment", amount=877, fee=0, net=877, source=py.id)
    assert_pending(pbt)
    assert stripe.ApplicationFee.list(charge=py.id).data == []
    assert_delta(w.delta(acct), "connected account", available=0, pending=877)
    assert_delta(w.delta(None), "platform", available=0, pending=941 - 877)


def test_destination_charge_on_behalf_of(custom_account):
    acct = custom_account.id
    w = BalanceWatch(None, acct)
    pi = pay(2000, application_fee_amount=300, on_behalf_of=acct, transfer_data={"destination": acct})
    assert pi.on_behalf_of == acct
    ch = charge_of(pi)
    assert id_of(ch.on_behalf_of) == acct
    # with or without on_behalf_of, the platform pays the processing fee of a destination charge
    assert_bt(charge_bt(ch), type="charge", amount=2000, fee=88, net=1912, fee_details={"stripe_fee": 88})
    tr, py = _destination_legs(ch, acct, 2000)
    assert_bt(balance_transaction(py.balance_transaction, acct), type="payment", amount=2000, fee=300, net=1700, fee_details={"application_fee": 300})
    assert_delta(w.delta(acct), "connected account", available=0, pending=1700)
    assert_delta(w.delta(None), "platform", available=0, pending=1912 - 2000 + 300)


def test_destination_charge_rejects_transfer_amount_above_charge(custom_account):
    acct = custom_account.id
    w = BalanceWatch(None, acct)
    expect_error(
        stripe.InvalidRequestError,
        stripe.PaymentIntent.create,
        amount=1000,
        currency="usd",
        payment_method="pm_card_visa",
        payment_method_types=["card"],
        confirm=True,
        transfer_data={"destination": acct, "amount": 1001},
        status=400,
    )
    expect_error(
        stripe.InvalidRequestError,
        stripe.PaymentIntent.create,
        amount=1000,
        currency="usd",
        payment_method="pm_card_visa",
        payment_method_types=["card"],
        confirm=True,
        transfer_data={"destination": "acct_doesnotexist0000"},
        status=400,
    )
    assert_delta(w.delta(acct), "connected account", total=0)
    assert_delta(w.delta(None), "platform", total=0)


# --- application fees ----------------------------------------------------------------------------------


def test_application_fee_refunds_return_the_fee_to_the_account(fee_paying_account):
    acct = fee_paying_account.id
    pi = pay(1000, account=acct, application_fee_amount=200)
    ch = charge_of(pi, acct)
    fee = application_fee_of(ch)
    w = BalanceWatch(None, acct)

    fr = stripe.ApplicationFee.create_refund(fee.id, amount=50, metadata={"why": "goodwill"})
    check(fr)
    assert fr.id.startswith("fr_") and fr.object == "fee_refund"
    assert (fr.amount, fr.currency, id_of(fr.fee)) == (50, "usd", fee.id)
    assert fr.metadata["why"] == "goodwill"
    frbt = balance_transaction(fr.balance_transaction)
    assert_bt(frbt, type="application_fee_refund", amount=-50, fee=0, net=-50, source=fr.id)
    got = stripe.ApplicationFee.retrieve(fee.id)
    check(got)
    assert (got.amount, got.amount_refunded, got.refunded) == (200, 50, False)

    # no more than what is left
    expect_error(stripe.InvalidRequestError, stripe.ApplicationFee.create_refund, fee.id, amount=151, status=400)
    rest = stripe.ApplicationFee.create_refund(fee.id)  # the remaining 150
    check(rest)
    assert rest.amount == 150
    got = stripe.ApplicationFee.retrieve(fee.id)
    assert (got.amount_refunded, got.refunded) == (200, True)
    expect_error(stripe.InvalidRequestError, stripe.ApplicationFee.create_refund, fee.id, amount=1, status=400)

    refunds = stripe.ApplicationFee.list_refunds(fee.id)
    check(refunds)
    assert [r.id for r in refunds.data] == [rest.id, fr.id]
    one = stripe.ApplicationFee.retrieve_refund(fee.id, fr.id)
    check(one)
    assert one.amount == 50
    upd = stripe.ApplicationFee.modify_refund(fee.id, fr.id, metadata={"why": "updated"})
    assert upd.metadata["why"] == "updated"

    # the fee goes back to the account; the customer's charge is untouched
    assert_delta(w.delta(None), "platform", total=-200)
    assert_delta(w.delta(acct), "connected account", total=200)
    again = stripe.Charge.retrieve(ch.id, stripe_account=acct)
    assert (again.amount_refunded, again.refunded) == (0, False)
