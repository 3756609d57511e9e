"""Webhook endpoints through stripe-python, and deliveries to a real local receiver that checks
every signature with stripe.Webhook.construct_event, as an integration would."""

from __future__ import annotations

import http.server
import threading
import uuid

import pytest
import stripe

from helpers import create_custom_account, expect_error, raw, wait_for
from openapi_check import check

pytestmark = [pytest.mark.events, pytest.mark.webhooks]


class Receiver:
    """An HTTP server on a free local port; records (path, payload, Stripe-Signature)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes, str]] = []
        self.fail_next = 0
        lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(length)
                with lock:
                    failing = owner.fail_next > 0
                    if failing:
                        owner.fail_next -= 1
                    else:
                        owner.received.append((self.path, payload, self.headers.get("Stripe-Signature", "")))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return "http://127.0.0.1:%d%s" % (self.server.server_address[1], path)

    def events(self, path: str, secret: str) -> list[stripe.Event]:
        """Every delivery to path, verified as an integration verifies it."""
        return [
            stripe.Webhook.construct_event(payload, signature, secret)
            for (p, payload, signature) in list(self.received)
            if p == path
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def endpoints():
    """Creates endpoints and deletes them after the test (the server is shared)."""
    made: list[stripe.WebhookEndpoint] = []

    def make(**params) -> stripe.WebhookEndpoint:
        endpoint = stripe.WebhookEndpoint.create(**params)
        check(endpoint)
        made.append(endpoint)
        return endpoint

    yield make
    for endpoint in made:
        try:
            stripe.WebhookEndpoint.delete(endpoint.id)
        except stripe.InvalidRequestError:
            pass


def delivered_for(receiver: Receiver, path: str, secret: str, object_id: str, event_type: str):
    return [
        e for e in receiver.events(path, secret) if e.type == event_type and e.data.object["id"] == object_id
    ]


def test_endpoint_crud(endpoints):
    endpoint = endpoints(
        url="https://example.com/hooks/" + uuid.uuid4().hex,
        enabled_events=["charge.succeeded", "customer.created"],
        description="conformance",
        metadata={"team": "payments"},
    )
    assert endpoint.id.startswith("we_")
    assert endpoint.object == "webhook_endpoint"
    assert endpoint.status == "enabled"
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.enabled_events == ["charge.succeeded", "customer.created"]
    assert endpoint.metadata.to_dict() == {"team": "payments"}
    fetched = stripe.WebhookEndpoint.retrieve(endpoint.id)
    check(fetched)
    assert "secret" not in fetched.to_dict(), "the secret is returned only on create"
    assert fetched.url == endpoint.url
    disabled = stripe.WebhookEndpoint.modify(endpoint.id, disabled=True, enabled_events=["*"])
    check(disabled)
    assert disabled.status == "disabled"
    assert disabled.enabled_events == ["*"]
    listed = stripe.WebhookEndpoint.list(limit=100)
    check(listed)
    assert endpoint.id in [e.id for e in listed.data]
    deleted = stripe.WebhookEndpoint.delete(endpoint.id)
    assert deleted.deleted is True
    expect_error(stripe.InvalidRequestError, stripe.WebhookEndpoint.retrieve, endpoint.id, status=404)


def test_endpoint_errors():
    expect_error(
        stripe.InvalidRequestError,
        stripe.WebhookEndpoint.create,
        url="not a url",
        enabled_events=["*"],
        status=400,
        code="url_invalid",
        param="url",
    )
    expect_error(
        stripe.InvalidRequestError,
        stripe.WebhookEndpoint.create,
        url="https://example.com/hook",
        enabled_events=["charge.succeeded", "charge.exploded"],
        status=400,
        param="enabled_events[1]",
    )
    expect_error(
        stripe.InvalidRequestError,
        stripe.WebhookEndpoint.create,
        url="https://example.com/hook",
        status=400,
        code="parameter_missing",
        param="enabled_events",
    )
    acct = create_custom_account()
    expect_error(
        stripe.PermissionError,
        stripe.WebhookEndpoint.create,
        url="https://example.com/hook",
        enabled_events=["*"],
        stripe_account=acct.id,
        status=403,
    )


def test_delivery_is_signed_and_verifiable_with_the_sdk(receiver, endpoints, uid):
    endpoint = endpoints(url=receiver.url("/platform"), enabled_events=["customer.created"])
    customer = stripe.Customer.create(name="Webhook", metadata={"uid": uid})
    got = wait_for(
        lambda: delivered_for(receiver, "/platform", endpoint.secret, customer.id, "customer.created"),
        lambda found: len(found) >= 1,
    )
    assert len(got) >= 1, receiver.received
    event = got[0]
    assert event.object == "event"
    assert event.data.object.name == "Webhook"
    # A wrong secret fails the SDK's check.
    path, payload, signature = next(r for r in receiver.received if r[0] == "/platform")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, signature, "whsec_wrong")
    # Only the selected type arrives.
    stripe.Customer.modify(customer.id, name="Changed")
    assert all(e.type == "customer.created" for e in receiver.events("/platform", endpoint.secret))
    settled = wait_for(lambda: stripe.Event.retrieve(event.id), lambda e: e.pending_webhooks == 0)
    assert settled.pending_webhooks == 0


def test_connect_endpoints_receive_connected_accounts_events(receiver, endpoints):
    connect = endpoints(url=receiver.url("/connect"), enabled_events=["customer.created"], connect=True)
    platform = endpoints(url=receiver.url("/own"), enabled_events=["customer.created"])
    acct = create_custom_account()
    inside = stripe.Customer.create(name="Inside", stripe_account=acct.id)
    own = stripe.Customer.create(name="Own")
    got = wait_for(
        lambda: delivered_for(receiver, "/connect", connect.secret, inside.id, "customer.created"),
        lambda found: len(found) >= 1,
    )
    assert got and got[0].account == acct.id
    mine = wait_for(
        lambda: delivered_for(receiver, "/own", platform.secret, own.id, "customer.created"),
        lambda found: len(found) >= 1,
    )
    assert mine and "account" not in mine[0].to_dict()
    assert not delivered_for(receiver, "/own", platform.secret, inside.id, "customer.created")
    assert not delivered_for(receiver, "/connect", connect.secret, own.id, "customer.created")


def test_failed_delivery_is_retried_and_logged(receiver, endpoints):
    receiver.fail_next = 1
    endpoint = endpoints(url=receiver.url("/flaky"), enabled_events=["customer.created"])
    customer = stripe.Customer.create(name="Flaky")
    event = wait_for(
        lambda: stripe.Event.list(type="customer.created", limit=5).data,
        lambda found: any(getattr(e.data.object, "id", None) == customer.id for e in found),
    )
    event = next(e for e in event if getattr(e.data.object, "id", None) == customer.id)
    # The first attempt failed; the retry comes on the server's schedule (its unit is set by
    # --webhook-retry-base-ms; Stripe's first retry is minutes away), so resend it now.
    log = wait_for(
        lambda: raw("GET", "/v1/sluice/events/%s/deliveries" % event.id).json,
        lambda body: len(body["data"]) >= 1,
    )
    assert log["data"][0]["status_code"] == 500
    assert log["data"][0]["succeeded"] is False
    resent = raw("POST", "/v1/sluice/events/%s/resend" % event.id, form={"webhook_endpoint": endpoint.id})
    assert resent.status == 200, resent.body
    got = wait_for(
        lambda: delivered_for(receiver, "/flaky", endpoint.secret, customer.id, "customer.created"),
        lambda found: len(found) >= 1,
    )
    assert got
    log = wait_for(
        lambda: raw("GET", "/v1/sluice/events/%s/deliveries" % event.id).json,
        lambda body: any(a["succeeded"] for a in body["data"]),
    )
    assert any(a["status_code"] == 200 for a in log["data"]), log
