"""Fixtures for the money-movement tests. Import the ones a module uses:

    from conftest_money import custom_account, fee_paying_account  # noqa: F401 (pytest fixtures)

Each fixture gives a NEW connected account, fully onboarded through the API with Stripe's test
values, so its balance starts at zero and every change is the test's own.
"""

from __future__ import annotations

import pytest
import stripe

from money_helpers import ACCOUNT_PAYS_FEES, onboarded_account


@pytest.fixture
def custom_account() -> stripe.Account:
    """type=custom (controller: fees.payer application_custom, losses.payments application)."""
    return onboarded_account("US")


@pytest.fixture
def custom_account_2() -> stripe.Account:
    """A second, independent custom account (splits between several accounts)."""
    return onboarded_account("US")


@pytest.fixture
def fee_paying_account() -> stripe.Account:
    """controller.fees.payer=account, losses.payments=stripe: pays its own fees on direct charges."""
    return onboarded_account("US", controller=ACCOUNT_PAYS_FEES)
