"""pytest configuration for the Sluice conformance suite.

Environment (set by scripts/test.sh, or by hand against a running server):
  SLUICE_API_BASE   e.g. http://127.0.0.1:4242 (no trailing slash; one is stripped if present)
  SLUICE_API_KEY    platform 1's test secret key
  SLUICE_API_KEY_2  a second platform's test secret key (isolation tests; skipped without it)
  SLUICE_STORE      sqlite | postgres (informational)
  SLUICE_OPENAPI    path to connect-openapi.json (default: ../shared/stripe-api/ from the repo)

The official SDK is configured both ways CONVENTIONS.md section 1 documents: the global style
(stripe.api_key / stripe.api_base) and StripeClient(base_addresses={"api": ...}).

Every response the SDK (or the raw-HTTP helper) receives is validated against the OpenAPI spec
and must carry a Request-Id header; a test whose responses violate that fails even if its own
assertions pass.
"""

from __future__ import annotations

import urllib.parse
import uuid

import pytest
import stripe

from helpers import API_BASE, API_KEY, API_KEY_2, STORE, record_response_problems, take_violations

# --- SDK configuration, global style (CONVENTIONS.md 1) ------------------------------------------


class ValidatingHTTPClient(stripe.RequestsClient):
    """The SDK's default requests-based client, plus response validation."""

    def request(self, method, url, headers, post_data=None):
        content, status, rheaders = super().request(method, url, headers, post_data)
        path = urllib.parse.urlsplit(url).path
        record_response_problems(method.upper(), path, status, content, rheaders)
        return content, status, rheaders


stripe.api_key = API_KEY
stripe.api_base = API_BASE
stripe.default_http_client = ValidatingHTTPClient()
stripe.enable_telemetry = True


def pytest_configure(config):
    if not API_BASE or not API_KEY:
        raise pytest.UsageError(
            "set SLUICE_API_BASE (e.g. http://127.0.0.1:4242) and SLUICE_API_KEY; "
            "scripts/test.sh does this for you"
        )


def pytest_report_header(config):
    return [
        "sluice: api_base=%s store=%s stripe-python=%s api_version=%s second platform key: %s"
        % (API_BASE, STORE, stripe.VERSION, stripe.api_version, "yes" if API_KEY_2 else "NO")
    ]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    take_violations()  # start clean
    result = yield
    found = take_violations()
    if found:
        raise AssertionError(
            "responses received during this test violate the OpenAPI spec or wire conventions:\n  "
            + "\n  ".join(found[:25])
            + ("\n  ... (%d more)" % (len(found) - 25) if len(found) > 25 else "")
        )
    return result


def pytest_terminal_summary(terminalreporter):
    import openapi_check

    if openapi_check.SEEN:
        tr = terminalreporter
        mode = "reported only (SLUICE_SCHEMA_CHECK=warn)" if openapi_check.SOFT else "each fails its test"
        tr.section("OpenAPI/wire violations seen (%s)" % mode)
        for k, n in sorted(openapi_check.SEEN.items(), key=lambda kv: -kv[1]):
            tr.write_line("%5d x %s" % (n, k[:300]))


# --- fixtures --------------------------------------------------------------------------------------


def _client(key: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": API_BASE, "files": API_BASE, "connect": API_BASE},
        http_client=ValidatingHTTPClient(),
    )


@pytest.fixture
def client() -> stripe.StripeClient:
    """StripeClient for platform 1 (client style, CONVENTIONS.md 1)."""
    return _client(API_KEY)


@pytest.fixture
def client2() -> stripe.StripeClient:
    """StripeClient for platform 2 (isolation tests)."""
    if not API_KEY_2:
        pytest.skip("SLUICE_API_KEY_2 not set: no second platform to test isolation against")
    return _client(API_KEY_2)


@pytest.fixture
def api_key_2() -> str:
    if not API_KEY_2:
        pytest.skip("SLUICE_API_KEY_2 not set: no second platform to test isolation against")
    return API_KEY_2


@pytest.fixture
def uid() -> str:
    """A unique token for this test: use it in emails/metadata to find your own objects."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def email(uid) -> str:
    return "%s@example.com" % uid


@pytest.fixture(scope="session")
def store() -> str:
    return STORE

