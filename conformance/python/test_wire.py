"""The wire layer (CONVENTIONS.md 2-9): auth, encoding, errors, headers, idempotency, isolation,
limits, expansion. Raw HTTP (http.client) where the SDK would hide what is on the wire.

Every bad-input test also checks that nothing changed.
"""

from __future__ import annotations

import json
import uuid

import pytest
import stripe

from helpers import (
    API_KEY,
    SDK_API_VERSION,
    create_custom_account,
    expect_error,
    expect_raw_error,
    newest_account_ids,
    newest_customer_ids,
    raw,
    raw_socket,
)
from openapi_check import check

# --- authentication ------------------------------------------------------------------------------


def test_no_key_is_401():
    r = raw("GET", "/v1/customers", key=None)
    err = expect_raw_error(r, 401)
    assert "api key" in err["message"].lower()


def test_bad_key_is_401_and_redacted():
    bogus = "sk_test_" + "Z" * 20 + "9876"
    r = raw("GET", "/v1/customers", key=bogus)
    err = expect_raw_error(r, 401)
    assert "invalid api key" in err["message"].lower()
    assert bogus not in err["message"], "the full key must not be echoed back"


def test_bad_key_sdk_raises_authentication_error():
    e = expect_error(
        stripe.AuthenticationError, stripe.Customer.list, api_key="sk_test_definitelynotakey1234", status=401
    )
    assert e.http_status == 401


def test_basic_auth_key_as_username():
    r = raw("GET", "/v1/customers", auth="basic", query={"limit": 1})
    assert r.status == 200, r.body
    assert r.json["object"] == "list"


def test_basic_auth_bad_key_is_401():
    r = raw("GET", "/v1/customers", key="sk_test_nopenopenope0000", auth="basic")
    expect_raw_error(r, 401)


def test_bad_key_on_post_creates_nothing(email):
    before = newest_customer_ids()
    r = raw("POST", "/v1/customers", key="sk_test_nopenopenope0000", form={"email": email})
    expect_raw_error(r, 401)
    assert newest_customer_ids() == before


# --- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path,key,expected",
    [
        ("GET", "/v1/customers?limit=1", API_KEY, 200),
        ("GET", "/v1/customers", None, 401),
        ("GET", "/v1/nope", API_KEY, 404),
        ("GET", "/v1/customers/cus_missing000", API_KEY, 404),
        ("GET", "/v1/customers?limit=abc", API_KEY, 400),
    ],
)
def test_request_id_header_canonical_casing(method, path, key, expected):
    r = raw(method, path, key=key)
    assert r.status == expected, r.body
    assert "Request-Id" in r.header_names, "Request-Id must be sent with that exact casing: %s" % r.header_names
    assert r.header("Request-Id").startswith("req_")
    assert (r.header("Content-Type") or "").startswith("application/json")


def test_request_ids_are_unique():
    ids = {raw("GET", "/v1/customers", query={"limit": 1}).header("Request-Id") for _ in range(5)}
    assert len(ids) == 5


def test_request_id_on_post_and_sdk_exposes_it(email):
    c = stripe.Customer.create(email=email)
    assert c.last_response.request_id.startswith("req_")
    r = raw("POST", "/v1/customers", form={"email": email})
    assert r.status == 200 and "Request-Id" in r.header_names


@pytest.mark.parametrize("version", [SDK_API_VERSION, "2024-06-20"])
def test_stripe_version_echoed(version):
    r = raw("GET", "/v1/customers", query={"limit": 1}, headers={"Stripe-Version": version})
    assert r.status == 200
    assert r.header("Stripe-Version") == version


def test_stripe_version_default_when_absent():
    r = raw("GET", "/v1/customers", query={"limit": 1})
    assert r.status == 200
    assert r.header("Stripe-Version"), "the account's default version is reported"


def test_sdk_requests_get_version_echo(email):
    c = stripe.Customer.create(email=email)
    assert c.last_response.headers.get("Stripe-Version") == SDK_API_VERSION


def test_invalid_stripe_version_is_400():
    r = raw("GET", "/v1/customers", headers={"Stripe-Version": "1999-13-45"})
    err = expect_raw_error(r, 400)
    assert "version" in err["message"].lower()


# --- routing and unknown objects -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_route_is_404(method):
    r = raw(method, "/v1/nope", form={} if method == "POST" else None)
    err = expect_raw_error(r, 404)
    assert err["message"].startswith("Unrecognized request URL (%s: /v1/nope)" % method), err["message"]


def test_unknown_route_sdk():
    e = expect_error(
        stripe.InvalidRequestError,
        stripe.StripeClient(API_KEY, base_addresses={"api": stripe.api_base}).raw_request,
        "get",
        "/v1/nope",
        status=404,
    )
    assert "Unrecognized request URL (GET: /v1/nope)" in e.error.message


@pytest.mark.parametrize(
    "call,obj_name",
    [
        (lambda: stripe.Customer.retrieve("cus_missing000"), "customer"),
        (lambda: stripe.Customer.modify("cus_missing000", name="x"), "customer"),
        (lambda: stripe.Customer.delete("cus_missing000"), "customer"),
    ],
    ids=["retrieve", "update", "delete"],
)
def test_resource_missing(call, obj_name):
    e = expect_error(stripe.InvalidRequestError, call, status=404, code="resource_missing", param="id")
    assert "No such %s" % obj_name in e.error.message
    assert "cus_missing000" in e.error.message


# --- parameters ----------------------------------------------------------------------------------


def test_unknown_parameter(email):
    before = newest_customer_ids()
    expect_error(
        stripe.InvalidRequestError,
        stripe.Customer.create,
        email=email,
        favourite_colour="blue",
        status=400,
        code="parameter_unknown",
        param="favourite_colour",
        message_contains="favourite_colour",
    )
    assert newest_customer_ids() == before


def test_unknown_nested_parameter(email):
    before = newest_customer_ids()
    expect_error(
        stripe.InvalidRequestError,
        stripe.Customer.create,
        email=email,
        address={"line1": "x", "planet": "Mars"},
        status=400,
        code="parameter_unknown",
        param="address[planet]",
    )
    assert newest_customer_ids() == before


def test_unknown_parameter_on_update_changes_nothing(email):
    c = stripe.Customer.create(email=email, name="Unchanged")
    expect_error(
        stripe.InvalidRequestError,
        stripe.Customer.modify,
        c.id,
        name="Changed",
        shoe_size="44",
        status=400,
        code="parameter_unknown",
        param="shoe_size",
    )
    assert stripe.Customer.retrieve(c.id).name == "Unchanged"


def test_unknown_query_parameter_on_list():
    expect_error(stripe.InvalidRequestError, stripe.Customer.list, colour="red", status=400, code="parameter_unknown", param="colour")


def test_missing_required_parameter():
    a = create_custom_account()
    expect_error(stripe.InvalidRequestError, stripe.Account.reject, a.id, status=400, code="parameter_missing", param="reason")
    assert not (stripe.Account.retrieve(a.id).requirements.disabled_reason or "").startswith("rejected")


def test_invalid_integer_parameters(email):
    before = newest_customer_ids()
    expect_error(
        stripe.InvalidRequestError, stripe.Customer.list, limit="ten", status=400, code="parameter_invalid_integer", param="limit"
    )
    expect_error(
        stripe.InvalidRequestError,
        stripe.Customer.create,
        email=email,
        balance="lots",
        status=400,
        code="parameter_invalid_integer",
        param="balance",
    )
    assert newest_customer_ids() == before


def test_invalid_nested_integer_parameter():
    a = create_custom_account(individual={"first_name": "Original"})
    expect_error(
        stripe.InvalidRequestError,
        stripe.Account.modify,
        a.id,
        individual={"first_name": "Changed", "dob": {"day": "first", "month": 1, "year": 1901}},
        status=400,
        code="parameter_invalid_integer",
        param="individual[dob][day]",
    )
    got = stripe.Account.retrieve(a.id)
    assert got.individual.first_name == "Original"
    assert got.individual.dob.day is None


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_limit_out_of_range(limit):
    expect_error(stripe.InvalidRequestError, stripe.Customer.list, limit=limit, status=400, param="limit")


def test_starting_after_and_ending_before_are_exclusive(email):
    c = stripe.Customer.create(email=email)
    expect_error(stripe.InvalidRequestError, stripe.Customer.list, starting_after=c.id, ending_before=c.id, status=400)


def test_starting_after_unknown_id():
    expect_error(
        stripe.InvalidRequestError,
        stripe.Customer.list,
        starting_after="cus_missing000",
        status=400,
        code="resource_missing",
        param="starting_after",
    )


def test_invalid_enum_value(email):
    before = newest_customer_ids()
    expect_error(stripe.InvalidRequestError, stripe.Customer.create, email=email, tax_exempt="sometimes", status=400, param="tax_exempt")
    assert newest_customer_ids() == before


def test_bracket_forms_and_spaces(email):
    # curl-style expand[] and indexed expand[0] are both accepted; '+' and %20 are spaces
    a = create_custom_account()
    for q in ("expand[]=account", "expand[0]=account", "expand%5B%5D=account", "expand%5B0%5D=account"):
        r = raw("GET", "/v1/accounts/%s/capabilities/transfers?%s" % (a.id, q))
        assert r.status == 200, (q, r.body)
        assert isinstance(r.json["account"], dict) and r.json["account"]["id"] == a.id, q
    r1 = raw("POST", "/v1/customers", body=("email=%s&name=Jenny+Rosen&metadata[k]=a+b" % email).encode())
    r2 = raw("POST", "/v1/customers", body=("email=%s&name=Jenny%%20Rosen&metadata%%5Bk%%5D=a%%20b" % email).encode())
    for r in (r1, r2):
        assert r.status == 200, r.body
        assert r.json["name"] == "Jenny Rosen"
        assert r.json["metadata"] == {"k": "a b"}


def test_form_body_with_charset_content_type(email):
    r = raw(
        "POST",
        "/v1/customers",
        body=("email=%s" % email).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert r.status == 200, r.body
    assert r.json["email"] == email


def test_utf8_values_round_trip(email):
    c = stripe.Customer.create(email=email, name="Zoë Ünïcødé 日本", metadata={"ключ": "значение"})
    check(c)
    assert c.name == "Zoë Ünïcødé 日本"
    assert stripe.Customer.retrieve(c.id).metadata.to_dict() == {"ключ": "значение"}


# --- malformed bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"email=%FF%FE%FD",  # percent-decodes to invalid UTF-8
        b"name=\xff\xfe\xfd",  # raw invalid UTF-8
        b"email=%ZZ",  # malformed percent escape
        b"name=100%",  # truncated percent escape
        b"metadata[a=1",  # unbalanced bracket
    ],
    ids=["pct-invalid-utf8", "raw-invalid-utf8", "bad-escape", "truncated-escape", "unbalanced-bracket"],
)
def test_malformed_body_is_400(body):
    before = newest_customer_ids()
    r = raw("POST", "/v1/customers", body=body)
    expect_raw_error(r, 400)
    assert newest_customer_ids() == before


def test_malformed_query_is_400():
    r = raw("GET", "/v1/customers?limit=%ZZ")
    expect_raw_error(r, 400)


def test_huge_body_is_rejected_cleanly(email):
    before = newest_customer_ids()
    body = ("email=%s&description=" % email).encode() + b"x" * (2 * 1024 * 1024)
    r = raw_socket("POST", "/v1/customers", body)
    assert 400 <= r.status < 500, r.status
    expect_raw_error(r, r.status)
    assert newest_customer_ids() == before
    # the server is still healthy afterwards
    assert raw("GET", "/v1/customers", query={"limit": 1}).status == 200


def test_description_too_long_is_400(email):
    before = newest_customer_ids()
    expect_error(stripe.InvalidRequestError, stripe.Customer.create, email=email, description="d" * 5001, status=400, param="description")
    assert newest_customer_ids() == before


# --- metadata limits (50 keys, key <= 40 chars, value <= 500 chars) -----------------------------


def test_metadata_limits_accept_the_maximum(email):
    md = {"k%02d" % i: "v" for i in range(50)}
    c = stripe.Customer.create(email=email, metadata=md)
    assert len(c.metadata.to_dict()) == 50
    c = stripe.Customer.create(email=email, metadata={"k" * 40: "v" * 500})
    assert c.metadata.to_dict() == {"k" * 40: "v" * 500}


@pytest.mark.parametrize(
    "metadata",
    [
        {"k%02d" % i: "v" for i in range(51)},
        {"k" * 41: "v"},
        {"k": "v" * 501},
    ],
    ids=["51-keys", "key-41-chars", "value-501-chars"],
)
def test_metadata_limits_on_create(email, metadata):
    before = newest_customer_ids()
    expect_error(stripe.InvalidRequestError, stripe.Customer.create, email=email, metadata=metadata, status=400)
    assert newest_customer_ids() == before


def test_metadata_limit_counts_merged_keys_on_update(email):
    c = stripe.Customer.create(email=email, metadata={"k%02d" % i: "v" for i in range(50)})
    expect_error(stripe.InvalidRequestError, stripe.Customer.modify, c.id, metadata={"one_more": "v"}, status=400)
    got = stripe.Customer.retrieve(c.id)
    assert len(got.metadata.to_dict()) == 50 and "one_more" not in got.metadata


def test_metadata_limits_on_accounts():
    before = newest_account_ids()
    expect_error(
        stripe.InvalidRequestError,
        stripe.Account.create,
        type="custom",
        country="US",
        capabilities={"transfers": {"requested": True}},
        metadata={"k": "v" * 501},
        status=400,
    )
    assert newest_account_ids() == before


# --- idempotency ---------------------------------------------------------------------------------


def test_idempotent_replay(email):
    key = "conf-" + uuid.uuid4().hex
    first = stripe.Customer.create(email=email, name="Idem", idempotency_key=key)
    second = stripe.Customer.create(email=email, name="Idem", idempotency_key=key)
    check(second)
    assert second.id == first.id
    assert second.to_dict() == first.to_dict()
    h1, h2 = first.last_response.headers, second.last_response.headers
    assert h1.get("Idempotency-Key") == key and h2.get("Idempotency-Key") == key
    assert h1.get("Idempotent-Replayed") in (None, "false")
    assert h2.get("Idempotent-Replayed") == "true"
    assert h2.get("Original-Request") == first.last_response.request_id
    assert second.last_response.request_id != first.last_response.request_id
    lst = stripe.Customer.list(email=email)
    assert [c.id for c in lst.data] == [first.id]


def test_idempotent_replay_header_casing(email):
    key = "conf-" + uuid.uuid4().hex
    r1 = raw("POST", "/v1/customers", form={"email": email}, headers={"Idempotency-Key": key})
    r2 = raw("POST", "/v1/customers", form={"email": email}, headers={"Idempotency-Key": key})
    assert r1.status == r2.status == 200
    assert r1.json == r2.json
    assert r2.header("Idempotent-Replayed") == "true"
    assert r2.header("Original-Request") == r1.header("Request-Id")
    assert r1.header("Idempotency-Key") == key


def test_idempotency_key_reused_with_different_params(email):
    key = "conf-" + uuid.uuid4().hex
    first = stripe.Customer.create(email=email, name="A", idempotency_key=key)
    e = expect_error(
        stripe.IdempotencyError,
        stripe.Customer.create,
        email=email,
        name="B",
        idempotency_key=key,
        status=400,
        type_="idempotency_error",
    )
    assert e.http_status == 400
    lst = stripe.Customer.list(email=email)
    assert [c.id for c in lst.data] == [first.id]
    assert lst.data[0].name == "A"


def test_idempotency_key_reused_on_other_endpoint(email):
    key = "conf-" + uuid.uuid4().hex
    c = stripe.Customer.create(email=email, idempotency_key=key)
    expect_error(
        stripe.IdempotencyError,
        stripe.Customer.modify,
        c.id,
        name="other endpoint",
        idempotency_key=key,
        status=400,
        type_="idempotency_error",
    )
    assert stripe.Customer.retrieve(c.id).name is None


def test_idempotency_key_ignored_on_get():
    key = "conf-" + uuid.uuid4().hex
    r1 = raw("GET", "/v1/customers", query={"limit": 1}, headers={"Idempotency-Key": key})
    r2 = raw("GET", "/v1/customers", query={"limit": 2}, headers={"Idempotency-Key": key})
    assert r1.status == r2.status == 200
    assert r2.header("Idempotent-Replayed") in (None, "false")


def test_idempotency_key_too_long(email):
    before = newest_customer_ids()
    r = raw("POST", "/v1/customers", form={"email": email}, headers={"Idempotency-Key": "k" * 256})
    expect_raw_error(r, 400)
    assert newest_customer_ids() == before


def test_sdk_retry_safety_client_style(client, email):
    key = "conf-" + uuid.uuid4().hex
    c1 = client.v1.customers.create(params={"email": email}, options={"idempotency_key": key, "max_network_retries": 2})
    c2 = client.v1.customers.create(params={"email": email}, options={"idempotency_key": key, "max_network_retries": 2})
    assert c1.id == c2.id
    assert c2.last_response.headers.get("Idempotent-Replayed") == "true"
    # the SDK sends an Idempotency-Key on every POST even when the caller does not
    c3 = client.v1.customers.create(params={"email": email})
    assert (c3.last_response.headers.get("Idempotency-Key") or "") != ""
    assert c3.id != c1.id


def test_idempotency_keys_are_scoped_per_stripe_account(email):
    a = create_custom_account()
    key = "conf-" + uuid.uuid4().hex
    on_platform = stripe.Customer.create(email=email, idempotency_key=key)
    on_connected = stripe.Customer.create(email=email, idempotency_key=key, stripe_account=a.id)
    assert on_connected.id != on_platform.id
    assert on_connected.last_response.headers.get("Idempotent-Replayed") in (None, "false")


def test_idempotency_keys_are_scoped_per_platform(client2, email):
    key = "conf-" + uuid.uuid4().hex
    mine = stripe.Customer.create(email=email, idempotency_key=key)
    theirs = client2.v1.customers.create(params={"email": email}, options={"idempotency_key": key})
    assert theirs.id != mine.id
    assert theirs.last_response.headers.get("Idempotent-Replayed") in (None, "false")


# --- Stripe-Account and platform isolation -------------------------------------------------------


def test_stripe_account_header_scopes_objects(email):
    a = create_custom_account()
    c = stripe.Customer.create(email=email, stripe_account=a.id)
    check(c)
    assert c.id in [x.id for x in stripe.Customer.list(email=email, stripe_account=a.id).data]
    assert c.id not in [x.id for x in stripe.Customer.list(email=email).data]
    expect_error(stripe.InvalidRequestError, stripe.Customer.retrieve, c.id, status=404, code="resource_missing")
    assert stripe.Customer.retrieve(c.id, stripe_account=a.id).id == c.id


def test_stripe_account_of_other_platform_is_403(client2):
    theirs = client2.v1.accounts.create(
        params={"type": "custom", "country": "US", "capabilities": {"transfers": {"requested": True}}}
    )
    e = expect_error(stripe.PermissionError, stripe.Customer.list, stripe_account=theirs.id, status=403, code="account_invalid")
    assert e.http_status == 403
    expect_error(stripe.PermissionError, stripe.Account.retrieve, stripe_account=theirs.id, status=403, code="account_invalid")


def test_write_with_stripe_account_of_other_platform_changes_nothing(client2, email):
    theirs = client2.v1.accounts.create(
        params={"type": "custom", "country": "US", "capabilities": {"transfers": {"requested": True}}}
    )
    expect_error(
        stripe.PermissionError, stripe.Customer.create, email=email, stripe_account=theirs.id, status=403, code="account_invalid"
    )
    listed = client2.v1.customers.list(params={"email": email}, options={"stripe_account": theirs.id})
    assert listed.data == []


def test_stripe_account_unknown_is_403():
    expect_error(stripe.PermissionError, stripe.Customer.list, stripe_account="acct_doesnotexist00", status=403, code="account_invalid")


def test_other_platforms_objects_are_invisible(client2, email):
    their_customer = client2.v1.customers.create(params={"email": email})
    their_account = client2.v1.accounts.create(
        params={"type": "custom", "country": "US", "capabilities": {"transfers": {"requested": True}}}
    )
    expect_error(
        stripe.InvalidRequestError, stripe.Customer.retrieve, their_customer.id, status=404, code="resource_missing", param="id"
    )
    assert stripe.Customer.list(email=email).data == []
    # Stripe answers either 404 resource_missing or 403 account_invalid here; never the object
    with pytest.raises((stripe.InvalidRequestError, stripe.PermissionError)) as ei:
        stripe.Account.retrieve(their_account.id)
    assert ei.value.http_status in (403, 404)
    assert their_account.id not in [x.id for x in stripe.Account.list(limit=100).data]
    # writes are refused too, and nothing changes on their side
    with pytest.raises((stripe.InvalidRequestError, stripe.PermissionError)):
        stripe.Customer.modify(their_customer.id, name="hijacked")
    with pytest.raises((stripe.InvalidRequestError, stripe.PermissionError)):
        stripe.Account.modify(their_account.id, metadata={"hijacked": "yes"})
    assert client2.v1.customers.retrieve(their_customer.id).name is None
    assert client2.v1.accounts.retrieve(their_account.id).metadata.to_dict() == {}


def test_each_platform_has_its_own_get_account(client2):
    me = stripe.Account.retrieve()
    them = client2.v1.accounts.retrieve_current()
    assert me.id != them.id


# --- expansion -----------------------------------------------------------------------------------


def test_expand_dotted_and_list_paths():
    a = create_custom_account(external_account="btok_us_verified")
    cap = stripe.Account.retrieve_capability(a.id, "transfers", expand=["account"])
    assert cap.account.id == a.id
    lst = stripe.Account.list_capabilities(a.id, expand=["data.account"])
    check(lst)
    assert all(c.account.id == a.id for c in lst.data)
    ext = stripe.Account.list_external_accounts(a.id, expand=["data.account"])
    assert ext.data and all(x.account.object == "account" for x in ext.data)
    # without expand the same fields are ids
    assert stripe.Account.list_capabilities(a.id).data[0].account == a.id


def test_expand_without_data_prefix_on_list_is_400():
    a = create_custom_account()
    expect_error(stripe.InvalidRequestError, stripe.Account.list_capabilities, a.id, expand=["account"], status=400)


@pytest.mark.parametrize("path", ["country", "nope", "data.account", "settings.payouts"])
def test_expand_non_expandable_on_account_is_400(path):
    a = create_custom_account()
    expect_error(stripe.InvalidRequestError, stripe.Account.retrieve, a.id, expand=[path], status=400)


def test_error_body_is_exactly_stripe_shaped():
    r = raw("GET", "/v1/customers/cus_missing000")
    assert r.status == 404
    assert set(r.json) == {"error"}
    err = r.json["error"]
    assert err["type"] == "invalid_request_error"
    assert err["code"] == "resource_missing"
    assert err["param"] == "id"
    assert isinstance(err["message"], str)
    # unknown members would break strict clients; these are the documented ones
    allowed = {
        "type", "code", "message", "param", "decline_code", "doc_url", "charge", "payment_intent",
        "payment_method", "payment_method_type", "setup_intent", "source", "request_log_url",
    }
    assert set(err) <= allowed, set(err) - allowed
    json.dumps(r.json)  # plain JSON
