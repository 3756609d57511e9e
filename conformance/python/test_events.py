"""Events: /v1/events through stripe-python. Every change records an event with Stripe's shape;
lists filter by type, types and created, page with cursors, and are scoped by Stripe-Account."""

from __future__ import annotations

import pytest
import stripe

from helpers import create_custom_account, expect_error
from openapi_check import check

pytestmark = pytest.mark.events


def find_event(event_type: str, object_id: str, limit: int = 50, **opts) -> stripe.Event:
    events = stripe.Event.list(type=event_type, limit=limit, **opts)
    check(events)
    for event in events.data:
        if event.data.object["id"] == object_id:
            return event
    raise AssertionError("no %s event for %s among %d" % (event_type, object_id, len(events.data)))


def test_create_records_an_event_with_stripes_shape(uid):
    customer = stripe.Customer.create(name="Events", metadata={"uid": uid}, idempotency_key="k" + uid)
    event = find_event("customer.created", customer.id)
    assert event.object == "event"
    assert event.id.startswith("evt_")
    assert event.type == "customer.created"
    assert event.livemode is False
    assert isinstance(event.created, int)
    assert isinstance(event.pending_webhooks, int)
    assert event.api_version
    assert "account" not in event.to_dict(), "platform events carry no account"
    assert event.data.object.to_dict() == customer.to_dict()
    assert "previous_attributes" not in event.data.to_dict()
    assert event.request.id == customer.last_response.request_id
    assert event.request.idempotency_key == "k" + uid

    fetched = stripe.Event.retrieve(event.id)
    check(fetched)
    assert fetched.to_dict() == event.to_dict()


def test_update_records_previous_attributes(uid):
    customer = stripe.Customer.create(name="Before", metadata={"uid": uid})
    stripe.Customer.modify(customer.id, name="After", phone="+14155550100")
    event = find_event("customer.updated", customer.id)
    assert event.data.object.name == "After"
    assert event.data.previous_attributes.to_dict() == {"name": "Before", "phone": None}
    stripe.Customer.delete(customer.id)
    deleted = find_event("customer.deleted", customer.id)
    assert deleted.data.object.name == "After"


def test_payment_records_stripes_event_sequence():
    intent = stripe.PaymentIntent.create(amount=1234, currency="usd", payment_method="pm_card_visa", confirm=True)
    assert intent.status == "succeeded"
    created = find_event("payment_intent.created", intent.id)
    succeeded = find_event("payment_intent.succeeded", intent.id)
    charge = find_event("charge.succeeded", intent.latest_charge)
    assert created.created <= charge.created <= succeeded.created
    assert succeeded.data.object.status == "succeeded"
    assert charge.data.object.payment_intent == intent.id
    # Events list newest first: succeeded, then its charge, then the creation.
    listed = [e.id for e in stripe.Event.list(limit=20).data]
    assert listed.index(succeeded.id) < listed.index(charge.id) < listed.index(created.id)


def test_declined_payment_records_failures():
    with pytest.raises(stripe.CardError) as raised:
        stripe.PaymentIntent.create(
            amount=1000, currency="usd", payment_method="pm_card_chargeDeclined", confirm=True
        )
    intent_id = raised.value.json_body["error"]["payment_intent"]["id"]
    failed = find_event("payment_intent.payment_failed", intent_id)
    assert failed.data.object.last_payment_error.code == "card_declined"
    charge_id = failed.data.object.latest_charge
    assert find_event("charge.failed", charge_id).data.object.status == "failed"


def test_connected_account_events_are_listed_with_its_header(uid):
    acct = create_custom_account()
    customer = stripe.Customer.create(name="Inside", stripe_account=acct.id)
    event = find_event("customer.created", customer.id, stripe_account=acct.id)
    assert event.account == acct.id
    platform_ids = [e.id for e in stripe.Event.list(type="customer.created", limit=100).data]
    assert event.id not in platform_ids
    fetched = stripe.Event.retrieve(event.id, stripe_account=acct.id)
    assert fetched.account == acct.id


def test_types_and_created_filters_and_paging(uid):
    customer = stripe.Customer.create(name="Filters", metadata={"uid": uid})
    stripe.Customer.modify(customer.id, name="Filtered")
    both = stripe.Event.list(types=["customer.created", "customer.updated"], limit=10)
    check(both)
    assert {e.type for e in both.data} <= {"customer.created", "customer.updated"}
    mine = [e for e in both.data if e.data.object["id"] == customer.id]
    assert [e.type for e in mine] == ["customer.updated", "customer.created"]
    newest = both.data[0]
    later = stripe.Event.list(created={"gt": newest.created}, limit=10)
    assert all(e.created > newest.created for e in later.data)
    page = stripe.Event.list(limit=2)
    following = stripe.Event.list(limit=2, starting_after=page.data[-1].id)
    assert not {e.id for e in page.data} & {e.id for e in following.data}
    seen = 0
    for event in stripe.Event.list(limit=3, type="customer.updated").auto_paging_iter():
        assert event.type == "customer.updated"
        seen += 1
        if seen >= 7:
            break
    assert seen >= 1


def test_list_and_retrieve_errors():
    expect_error(stripe.InvalidRequestError, stripe.Event.retrieve, "evt_missing", status=404, code="resource_missing")
    expect_error(
        stripe.InvalidRequestError,
        stripe.Event.list,
        type="customer.created",
        types=["customer.updated"],
        status=400,
        param="types",
    )
    expect_error(stripe.InvalidRequestError, stripe.Event.list, limit=1000, status=400, param="limit")
