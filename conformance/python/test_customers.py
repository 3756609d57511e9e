"""Customers: /v1/customers, exercised through stripe-python both ways (global and StripeClient)."""

from __future__ import annotations

import time

import pytest
import stripe

from helpers import expect_error, newest_customer_ids
from openapi_check import check

ADDRESS = {
    "line1": "510 Townsend St",
    "city": "San Francisco",
    "state": "CA",
    "postal_code": "94103",
    "country": "US",
}


def make_customers(email: str, n: int) -> list[stripe.Customer]:
    out = []
    for i in range(n):
        c = stripe.Customer.create(email=email, name="Customer %d" % i)
        check(c)
        out.append(c)
    return out


def test_create_with_all_fields(email):
    c = stripe.Customer.create(
        email=email,
        name="Jenny Rosen",
        description="conformance customer",
        phone="+14155550100",
        metadata={"order_id": "6735", "tier": "gold"},
        address=ADDRESS,
    )
    check(c)
    assert c.last_response.code == 200
    assert c.id.startswith("cus_")
    assert c.object == "customer"
    assert c.email == email
    assert c.name == "Jenny Rosen"
    assert c.description == "conformance customer"
    assert c.phone == "+14155550100"
    assert c.metadata.to_dict() == {"order_id": "6735", "tier": "gold"}
    assert c.address.to_dict() == dict(ADDRESS, line2=None)
    assert c.livemode is False  # sk_test_ key
    assert isinstance(c.created, int) and abs(c.created - time.time()) < 300
    # defaults Stripe reports on a fresh customer
    assert c.balance == 0
    assert c.delinquent is False
    assert c.currency is None
    assert c.default_source is None
    assert c.discount is None
    assert c.shipping is None
    assert c.tax_exempt == "none"
    assert c.preferred_locales == []


def test_create_empty_customer_has_nulls():
    c = stripe.Customer.create()
    check(c)
    for f in ("email", "name", "description", "phone", "address"):
        assert c[f] is None, f
    assert c.metadata.to_dict() == {}


def test_retrieve_returns_same_object(email):
    c = stripe.Customer.create(email=email, name="Retrieve Me", metadata={"k": "v"})
    got = stripe.Customer.retrieve(c.id)
    check(got)
    assert got.to_dict() == c.to_dict()


def test_retrieve_with_client_style(client, email):
    c = client.v1.customers.create(params={"email": email, "name": "Client Style"})
    check(c)
    got = client.v1.customers.retrieve(c.id)
    check(got)
    assert got.id == c.id and got.email == email and got.name == "Client Style"


def test_update_fields_and_metadata_merge(email):
    c = stripe.Customer.create(
        email=email, description="before", name="Name", metadata={"a": "1", "b": "2"}
    )
    u = stripe.Customer.modify(c.id, metadata={"b": "", "c": "3"}, name="New Name")
    check(u)
    assert u.id == c.id
    # metadata is merged; an empty value deletes that key
    assert u.metadata.to_dict() == {"a": "1", "c": "3"}
    assert u.name == "New Name"
    # untouched fields survive
    assert u.description == "before"
    assert u.email == email
    assert u.created == c.created
    # persisted
    assert stripe.Customer.retrieve(c.id).metadata.to_dict() == {"a": "1", "c": "3"}


def test_update_empty_string_unsets_field(email):
    c = stripe.Customer.create(email=email, description="to be removed", phone="+14155550100")
    u = stripe.Customer.modify(c.id, description="", phone="")
    check(u)
    assert u.description is None
    assert u.phone is None
    got = stripe.Customer.retrieve(c.id)
    assert got.description is None and got.phone is None


def test_update_metadata_empty_string_clears_all(email):
    c = stripe.Customer.create(email=email, metadata={"a": "1", "b": "2"})
    u = stripe.Customer.modify(c.id, metadata="")
    check(u)
    assert u.metadata.to_dict() == {}


def test_update_address_unset(email):
    c = stripe.Customer.create(email=email, address=ADDRESS)
    u = stripe.Customer.modify(c.id, address="")
    check(u)
    assert u.address is None


def test_list_shape_and_default_limit(email):
    make_customers(email, 12)
    lst = stripe.Customer.list(email=email)
    check(lst)
    assert lst.object == "list"
    assert lst.url == "/v1/customers"
    assert len(lst.data) == 10  # default limit
    assert lst.has_more is True
    assert all(c.email == email for c in lst.data)


def test_list_limit_starting_after_ending_before(email):
    c = [x.id for x in make_customers(email, 5)]  # c[0] oldest ... c[4] newest

    page1 = stripe.Customer.list(email=email, limit=2)
    check(page1)
    assert [x.id for x in page1.data] == [c[4], c[3]]  # newest first
    assert page1.has_more is True

    page2 = stripe.Customer.list(email=email, limit=2, starting_after=c[3])
    check(page2)
    assert [x.id for x in page2.data] == [c[2], c[1]]
    assert page2.has_more is True

    page3 = stripe.Customer.list(email=email, limit=2, starting_after=c[1])
    check(page3)
    assert [x.id for x in page3.data] == [c[0]]
    assert page3.has_more is False

    # ending_before returns the page immediately before the cursor (newer objects), same order
    back = stripe.Customer.list(email=email, limit=2, ending_before=c[1])
    check(back)
    assert [x.id for x in back.data] == [c[3], c[2]]
    assert back.has_more is True  # c[4] is still before

    back2 = stripe.Customer.list(email=email, limit=2, ending_before=c[3])
    check(back2)
    assert [x.id for x in back2.data] == [c[4]]
    assert back2.has_more is False

    big = stripe.Customer.list(email=email, limit=100)
    check(big)
    assert [x.id for x in big.data] == list(reversed(c))
    assert big.has_more is False


def test_auto_paging_iter_over_many(email):
    created = [x.id for x in make_customers(email, 27)]
    seen = []
    for cust in stripe.Customer.list(email=email, limit=10).auto_paging_iter():
        check(cust)
        seen.append(cust.id)
    assert seen == list(reversed(created))


def test_auto_paging_iter_client_style(client, email):
    created = [x.id for x in make_customers(email, 7)]
    seen = [cu.id for cu in client.v1.customers.list(params={"email": email, "limit": 3}).auto_paging_iter()]
    assert seen == list(reversed(created))


def test_auto_paging_iter_backwards_with_ending_before(email):
    created = [x.id for x in make_customers(email, 6)]
    # starting from ending_before=<oldest>, the SDK pages towards newer objects with
    # ending_before=<first id of each page> and yields each page reversed: oldest to newest
    seen = [cu.id for cu in stripe.Customer.list(email=email, limit=2, ending_before=created[0]).auto_paging_iter()]
    assert seen == created[1:]


def test_created_filters(email):
    c1 = stripe.Customer.create(email=email, name="first")
    time.sleep(max(0.0, c1.created + 1.1 - time.time()))
    c2 = stripe.Customer.create(email=email, name="second")
    assert c2.created > c1.created, "created must be unix seconds at creation"

    def ids(**created):
        lst = stripe.Customer.list(email=email, created=created)
        check(lst)
        return [x.id for x in lst.data]

    assert ids(gte=c2.created) == [c2.id]
    assert ids(gt=c1.created) == [c2.id]
    assert ids(lt=c2.created) == [c1.id]
    assert ids(lte=c1.created) == [c1.id]
    assert ids(gte=c1.created, lte=c2.created) == [c2.id, c1.id]
    assert ids(gt=c2.created) == []
    # created=<int> is an exact match
    exact = stripe.Customer.list(email=email, created=c1.created)
    check(exact)
    assert [x.id for x in exact.data] == [c1.id]


def test_delete_and_retrieve_deleted(email):
    c = stripe.Customer.create(email=email)
    d = stripe.Customer.delete(c.id)
    check(d)
    assert d.to_dict() == {"id": c.id, "object": "customer", "deleted": True}

    # Stripe returns the deleted stub on retrieve
    got = stripe.Customer.retrieve(c.id)
    check(got)
    assert got.to_dict() == {"id": c.id, "object": "customer", "deleted": True}

    # and it is gone from lists
    lst = stripe.Customer.list(email=email)
    assert c.id not in [x.id for x in lst.data]


def test_delete_twice_is_resource_missing(email):
    c = stripe.Customer.create(email=email)
    stripe.Customer.delete(c.id)
    expect_error(
        stripe.InvalidRequestError, stripe.Customer.delete, c.id, status=404, code="resource_missing"
    )


def test_update_deleted_customer_fails(email):
    c = stripe.Customer.create(email=email)
    stripe.Customer.delete(c.id)
    expect_error(stripe.InvalidRequestError, stripe.Customer.modify, c.id, name="x", status=404, code="resource_missing")


def test_retrieve_unknown_customer():
    e = expect_error(
        stripe.InvalidRequestError,
        stripe.Customer.retrieve,
        "cus_doesnotexist0000",
        status=404,
        code="resource_missing",
        param="id",
        message_contains=["No such customer", "cus_doesnotexist0000"],
    )
    assert e.error.type == "invalid_request_error"


@pytest.mark.parametrize("path", ["email", "metadata", "nope", "address.city"])
def test_expand_non_expandable_field_is_400(email, path):
    c = stripe.Customer.create(email=email)
    expect_error(
        stripe.InvalidRequestError,
        stripe.Customer.retrieve,
        c.id,
        expand=[path],
        status=400,
        message_contains=path.split(".")[0],
    )


def test_expand_non_expandable_field_on_list_is_400(email):
    stripe.Customer.create(email=email)
    before = newest_customer_ids()
    expect_error(stripe.InvalidRequestError, stripe.Customer.list, email=email, expand=["data.email"], status=400)
    # expand on a create that fails must not create anything
    expect_error(stripe.InvalidRequestError, stripe.Customer.create, email=email, expand=["email"], status=400)
    assert newest_customer_ids() == before
