"""Helpers for the money-movement conformance tests (issue 3): fees, balances, balance
transactions, payments, fresh onboarded connected accounts.

Everything here follows Stripe's documented behaviour; amounts are integers in minor units.

* Processing fee (the operator's share): default pricing 2.9% + 30 cents per successful card
  charge, rounded half up to the cent (DESIGN.md: integer arithmetic, one rounding rule):
  1000 -> 59, 2000 -> 88, 1234 -> 66. Stripe does not return processing fees on refunds.
* Dispute fee: $15.00, withdrawn with the disputed amount, returned when the dispute is won
  (DESIGN.md / issue 3).
* Balances are read with ``stripe.Balance.retrieve()`` (platform) and
  ``stripe.Balance.retrieve(stripe_account=acct)`` (connected account); tests never assume an
  empty platform balance: they compare snapshots (``BalanceWatch``) or use fresh accounts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import pytest
import stripe

from helpers import (
    as_dict,
    business_profile,
    create_custom_account,
    dob,
    fr_address,
    tos,
    us_individual,
    wait_for,
)
from openapi_check import check

# --- pricing -----------------------------------------------------------------------------------------

CARD_PERCENT_BP = 290  # 2.9% in basis points
CARD_FIXED = 30  # cents
DISPUTE_FEE = 1500  # $15.00
DAY = 86400


def stripe_fee(amount: int, percent_bp: int = CARD_PERCENT_BP, fixed: int = CARD_FIXED) -> int:
    """The operator's processing fee for a card charge of `amount` (half up to the cent)."""
    assert isinstance(amount, int) and amount >= 0
    return (amount * percent_bp + 5000) // 10000 + fixed


# sanity of the rule itself (the brief's examples)
assert stripe_fee(1000) == 59 and stripe_fee(2000) == 88 and stripe_fee(1234) == 66

# --- test payment methods (CONVENTIONS.md section 11) ---------------------------------------------

PM_VISA = "pm_card_visa"
PM_MASTERCARD = "pm_card_mastercard"
PM_BYPASS_PENDING = "pm_card_bypassPending"  # 4000000000000077: funds available at once
PM_AUTH_REQUIRED = "pm_card_authenticationRequired"  # 4000002760003184
PM_DISPUTE = "pm_card_createDispute"  # 4000000000000259: fraudulent dispute
PM_DISPUTE_PNR = "pm_card_createDisputeProductNotReceived"  # 4000000000002685
PM_DISPUTE_INQUIRY = "pm_card_createDisputeInquiry"  # 4000000000001976
PM_REFUND_FAIL = "pm_card_refundFail"  # 4000000000005126
PM_PENDING_REFUND = "pm_card_pendingRefund"  # 4000000000007726

# (payment method, error.code, error.decline_code or None where Stripe documents none)
DECLINES = [
    ("pm_card_visa_chargeDeclined", "card_declined", "generic_decline"),
    ("pm_card_visa_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
    ("pm_card_visa_chargeDeclinedLostCard", "card_declined", "lost_card"),
    ("pm_card_visa_chargeDeclinedStolenCard", "card_declined", "stolen_card"),
    ("pm_card_visa_chargeDeclinedVelocityLimitExceeded", "card_declined", "card_velocity_exceeded"),
    ("pm_card_chargeDeclinedExpiredCard", "expired_card", None),
    ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", None),
    ("pm_card_chargeDeclinedProcessingError", "processing_error", None),
]

# --- markers -------------------------------------------------------------------------------------------

MONEY_MARKERS = {
    "money": "money movement (issue 3): payments, connect charges, transfers, refunds, disputes, balances",
    "payments": "PaymentIntents and Charges (test_payments.py)",
    "connect_charges": "direct and destination charges, application fees (test_connect_charges.py)",
    "transfers": "transfers and transfer reversals (test_transfers.py)",
    "refunds": "refunds, reverse_transfer, refund_application_fee (test_refunds.py)",
    "disputes": "disputes from the dispute test cards (test_disputes.py)",
    "balance": "balances, balance transactions, money conservation (test_balance.py)",
}


def money_marks(name: str) -> list[Any]:
    """`pytestmark = money_marks("payments")`: marks a module `money` and `name`.

    pytest.ini runs with --strict-markers and these markers are not (yet) listed there, so they
    are registered on the running config first (adding them to pytest.ini makes this a no-op).
    """
    cfg = getattr(pytest.mark, "_config", None)
    if cfg is not None:
        known = {line.split(":", 1)[0].split("(")[0].strip() for line in cfg.getini("markers")}
        for marker, doc in MONEY_MARKERS.items():
            if marker not in known:
                cfg.addinivalue_line("markers", "%s: %s" % (marker, doc))
    return [getattr(pytest.mark, "money"), getattr(pytest.mark, name)]


# --- small accessors -----------------------------------------------------------------------------------


def opts(account: str | None) -> dict[str, Any]:
    """Request options for an optional connected account (Stripe-Account header)."""
    return {"stripe_account": account} if account else {}


def id_of(ref: Any) -> str | None:
    """An expandable reference (id string or expanded object) -> its id."""
    if ref is None or isinstance(ref, str):
        return ref
    return ref["id"]


def fee_breakdown(bt: Any) -> dict[str, int]:
    """balance_transaction.fee_details -> {type: summed amount}."""
    out: dict[str, int] = {}
    for d in bt["fee_details"] or []:
        assert isinstance(d["amount"], int), d
        out[d["type"]] = out.get(d["type"], 0) + d["amount"]
    return out


def balance_transaction(ref: Any, account: str | None = None, **params: Any) -> stripe.BalanceTransaction:
    """Retrieve a balance transaction (by id or expanded object) on the platform or an account."""
    txn = id_of(ref)
    assert isinstance(txn, str) and txn.startswith("txn_"), "not a balance transaction id: %r" % (ref,)
    got = stripe.BalanceTransaction.retrieve(txn, **opts(account), **params)
    check(got)
    return got


def assert_bt(
    bt: Any,
    *,
    type: str,
    amount: int,
    fee: int = 0,
    net: int | None = None,
    currency: str = "usd",
    fee_details: Mapping[str, int] | None = None,
    source: str | None = None,
    reporting_category: str | None = None,
) -> None:
    """Exact amounts of one balance transaction; net defaults to amount - fee."""
    where = "balance transaction %s" % bt["id"]
    assert bt["object"] == "balance_transaction", where
    assert bt["type"] == type, "%s: type %r, expected %r" % (where, bt["type"], type)
    assert bt["currency"] == currency, "%s: currency %r, expected %r" % (where, bt["currency"], currency)
    got = (bt["amount"], bt["fee"], bt["net"])
    want = (amount, fee, amount - fee if net is None else net)
    assert got == want, "%s (%s): (amount, fee, net) = %r, expected %r" % (where, type, got, want)
    assert bt["net"] == bt["amount"] - bt["fee"], "%s: net != amount - fee" % where
    details = fee_breakdown(bt)
    assert sum(details.values()) == bt["fee"], "%s: fee_details %r do not sum to fee %d" % (where, details, bt["fee"])
    if fee_details is not None:
        assert details == dict(fee_details), "%s: fee_details %r, expected %r" % (where, details, dict(fee_details))
    if source is not None:
        assert id_of(bt["source"]) == source, "%s: source %r, expected %r" % (where, bt["source"], source)
    if reporting_category is not None:
        assert bt["reporting_category"] == reporting_category, (
            "%s: reporting_category %r, expected %r" % (where, bt["reporting_category"], reporting_category)
        )


def assert_pending(bt: Any) -> None:
    """Default test-mode availability: pending, available ~2 days after created (>= 1 day)."""
    assert bt["status"] == "pending", "balance transaction %s: status %r, expected pending" % (bt["id"], bt["status"])
    assert bt["available_on"] >= bt["created"] + DAY, (
        "balance transaction %s: available_on %d is less than a day after created %d"
        % (bt["id"], bt["available_on"], bt["created"])
    )


def assert_available(bt: Any) -> None:
    """bypassPending (or a transfer from available funds): available at once."""
    assert bt["status"] == "available", "balance transaction %s: status %r, expected available" % (bt["id"], bt["status"])
    assert bt["available_on"] <= int(time.time()) + 5, (
        "balance transaction %s: available_on %d is in the future" % (bt["id"], bt["available_on"])
    )


# --- balances --------------------------------------------------------------------------------------------


def _by_currency(entries: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in entries or []:
        assert isinstance(e["amount"], int), e
        out[e["currency"]] = out.get(e["currency"], 0) + e["amount"]
    return out


@dataclass(frozen=True)
class Snapshot:
    available: dict[str, int]
    pending: dict[str, int]
    connect_reserved: dict[str, int] = field(default_factory=dict)

    def total(self, currency: str = "usd") -> int:
        return self.available.get(currency, 0) + self.pending.get(currency, 0)

    def __sub__(self, other: "Snapshot") -> "Snapshot":
        def diff(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
            return {c: a.get(c, 0) - b.get(c, 0) for c in set(a) | set(b) if a.get(c, 0) != b.get(c, 0)}

        return Snapshot(
            diff(self.available, other.available),
            diff(self.pending, other.pending),
            diff(self.connect_reserved, other.connect_reserved),
        )


def balance_of(account: str | None = None) -> Snapshot:
    """`/v1/balance` of the platform (None) or of a connected account, per currency."""
    b = stripe.Balance.retrieve(**opts(account))
    check(b)
    assert b.object == "balance" and b.livemode is False
    reserved = b["connect_reserved"] if "connect_reserved" in b else None
    return Snapshot(_by_currency(b.available), _by_currency(b.pending), _by_currency(reserved))


class BalanceWatch:
    """Snapshot balances now; `.delta(account)` is the change since (None = the platform)."""

    def __init__(self, *accounts: str | None):
        self.before = {a: balance_of(a) for a in accounts}

    def delta(self, account: str | None = None) -> Snapshot:
        assert account in self.before, "account %r not watched" % account
        return balance_of(account) - self.before[account]


def assert_delta(
    d: Snapshot,
    who: str,
    *,
    currency: str = "usd",
    total: int | None = None,
    available: int | None = None,
    pending: int | None = None,
) -> None:
    """Exact balance change of one account in one currency (others must be unchanged)."""
    got = {"available": d.available.get(currency, 0), "pending": d.pending.get(currency, 0)}
    got["total"] = got["available"] + got["pending"]
    want = {k: v for k, v in (("total", total), ("available", available), ("pending", pending)) if v is not None}
    assert {k: got[k] for k in want} == want, "%s balance change in %s: %r, expected %r" % (who, currency, got, want)
    others = {c for c in set(d.available) | set(d.pending) if c != currency}
    assert not others, "%s balance changed in other currencies too: %r" % (who, d)


# --- payments ------------------------------------------------------------------------------------------


def pay(
    amount: int,
    currency: str = "usd",
    payment_method: str = PM_VISA,
    account: str | None = None,
    **extra: Any,
) -> stripe.PaymentIntent:
    """Create and confirm a card PaymentIntent (confirm=true); expects it to succeed."""
    params: dict[str, Any] = {
        "amount": amount,
        "currency": currency,
        "payment_method": payment_method,
        "payment_method_types": ["card"],
        "confirm": True,
    }
    params.update(extra)
    pi = stripe.PaymentIntent.create(**params, **opts(account))
    check(pi)
    expected = "requires_capture" if params.get("capture_method") == "manual" else "succeeded"
    assert pi.status == expected, "PaymentIntent %s: status %r, expected %r" % (pi.id, pi.status, expected)
    return pi


def charge_of(pi: Any, account: str | None = None, **params: Any) -> stripe.Charge:
    """The PaymentIntent's latest charge (retrieved where the PaymentIntent lives)."""
    ch_id = id_of(pi["latest_charge"])
    assert isinstance(ch_id, str) and ch_id.startswith("ch_"), "latest_charge %r" % (pi["latest_charge"],)
    ch = stripe.Charge.retrieve(ch_id, **opts(account), **params)
    check(ch)
    return ch


def charge_bt(ch: Any, account: str | None = None) -> stripe.BalanceTransaction:
    assert ch["balance_transaction"], "charge %s has no balance_transaction" % ch["id"]
    return balance_transaction(ch["balance_transaction"], account)


def fund_platform_available(amount: int, currency: str = "usd") -> stripe.PaymentIntent | None:
    """Make sure the platform has at least `amount` available: a bypassPending charge for what
    is missing (earlier refunds and disputes may have left the available balance low or negative)."""
    missing = amount - balance_of(None).available.get(currency, 0)
    if missing <= 0:
        return None
    gross = max(missing, 50) * 103 // 100 + 31
    while gross - stripe_fee(gross) < missing:
        gross += 1
    return pay(gross, currency, PM_BYPASS_PENDING)


def application_fee_of(ch: Any, timeout: float = 10.0) -> stripe.ApplicationFee:
    """The ApplicationFee of a charge (Stripe may create direct-charge fees asynchronously)."""

    def fetch():
        return stripe.ApplicationFee.list(charge=ch["id"], limit=10)

    lst = wait_for(fetch, lambda r: len(r.data) > 0, timeout=timeout)
    check(lst)
    assert len(lst.data) == 1, "expected one application fee for charge %s, got %d" % (ch["id"], len(lst.data))
    return lst.data[0]


def dispute_of(charge_id: str, account: str | None = None, timeout: float = 15.0) -> stripe.Dispute:
    """The dispute a dispute test card opens (asynchronously) on a charge."""

    def fetch():
        return stripe.Dispute.list(charge=charge_id, limit=10, **opts(account))

    lst = wait_for(fetch, lambda r: len(r.data) > 0, timeout=timeout)
    check(lst)
    assert len(lst.data) == 1, "expected one dispute on charge %s, got %d" % (charge_id, len(lst.data))
    return lst.data[0]


# --- fresh, fully onboarded connected accounts --------------------------------------------------------

FR_IBAN = "FR1420041010050500013M02606"  # Stripe's test IBAN (FR), payouts succeed

# controller properties of an account that pays its own processing fees on direct charges.
# The platform collects its requirements (so it can onboard it through the API: Stripe refuses
# tos_acceptance from the platform when Stripe collects requirements), hence no Stripe dashboard
# and the platform liable for losses.
ACCOUNT_PAYS_FEES = {
    "stripe_dashboard": {"type": "none"},
    "fees": {"payer": "account"},
    "losses": {"payments": "application"},
    "requirement_collection": "application",
}


def _onboarding(country: str) -> dict[str, Any]:
    if country == "US":
        return {
            "business_type": "individual",
            "business_profile": business_profile(),
            # 1902-01-01: verification succeeds immediately
            "individual": us_individual(dob=dob(1902, 1, 1)),
            "tos_acceptance": tos(),
            "external_account": "btok_us_verified",
        }
    if country == "FR":
        return {
            "business_type": "individual",
            "business_profile": {"mcc": "5734", "url": "https://accessible.stripe.com", "product_description": "Test goods"},
            "individual": {
                "first_name": "Jeanne",
                "last_name": "Dupont",
                "email": "jeanne@example.com",
                "phone": "+33612345678",
                "dob": dob(1902, 1, 1),
                "address": fr_address(),
            },
            "tos_acceptance": tos(),
            "external_account": {"object": "bank_account", "country": "FR", "currency": "eur", "account_number": FR_IBAN},
        }
    raise ValueError(country)


def onboarded_account(
    country: str = "US",
    controller: Mapping[str, Any] | None = None,
    capabilities: Iterable[str] = ("card_payments", "transfers"),
) -> stripe.Account:
    """A new connected account created with the API and fully onboarded with Stripe's test values.

    Without `controller` it is a legacy `type=custom` account (fees.payer application_custom,
    losses.payments application); pass ACCOUNT_PAYS_FEES for an account that pays its own fees.
    """
    caps = tuple(capabilities)
    if controller is None:
        params = _onboarding(country)
        acct = create_custom_account(country, params.pop("business_type"), caps, **params)
    else:
        acct = stripe.Account.create(
            country=country,
            controller=dict(controller),
            capabilities={c: {"requested": True} for c in caps},
            **_onboarding(country),
        )
        check(acct)

    def ready(a):
        statuses = as_dict(a["capabilities"] if "capabilities" in a else None)
        return bool(a.charges_enabled and a.payouts_enabled and all(statuses.get(c) == "active" for c in caps))

    got = wait_for(lambda: stripe.Account.retrieve(acct.id), ready, timeout=10)
    assert ready(got), "precondition: account %s is not fully onboarded: charges_enabled=%s payouts_enabled=%s capabilities=%s requirements=%s" % (
        acct.id,
        got.charges_enabled,
        got.payouts_enabled,
        as_dict(got["capabilities"] if "capabilities" in got else None),
        as_dict(got["requirements"] if "requirements" in got else None),
    )
    return got
