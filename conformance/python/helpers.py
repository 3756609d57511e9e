"""Shared helpers for the conformance tests: raw HTTP, error assertions, test data."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import pytest
import stripe

import openapi_check
from openapi_check import check, response_problems

API_BASE = os.environ.get("SLUICE_API_BASE", "").rstrip("/")
API_KEY = os.environ.get("SLUICE_API_KEY", "")
API_KEY_2 = os.environ.get("SLUICE_API_KEY_2", "")
STORE = os.environ.get("SLUICE_STORE", "unknown")
SDK_API_VERSION = stripe.api_version  # "2026-10-28.endive" for stripe-python 16.1.0

_violations: list[str] = []


def record_response_problems(method: str, path: str, status: int, body: Any, headers: Any) -> None:
    """Validate one response (body against the spec; Request-Id present). Collected per test."""
    where = "%s %s -> %d" % (method, path.split("?")[0], status)
    found = ["%s: %s" % (where, p) for p in response_problems(method, path, status, body)]
    rid = None
    if headers is not None:
        rid = headers.get("Request-Id") if hasattr(headers, "get") else None
        if rid is None and hasattr(headers, "items"):
            rid = next((v for k, v in headers.items() if k.lower() == "request-id"), None)
    if not (rid or "").startswith("req_"):
        found.append("%s: missing or malformed Request-Id header (%r)" % (where, rid))
    openapi_check.note(found)
    if not openapi_check.SOFT:
        _violations.extend(found)


def take_violations() -> list[str]:
    out = list(_violations)
    _violations.clear()
    return out


# --- raw HTTP (http.client keeps header casing as sent by the server) -------------------------------


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    json: Any = field(default=None)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def header_names(self) -> list[str]:
        return [k for k, _ in self.headers]

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.json, dict) and isinstance(self.json.get("error"), dict), (
            "expected a Stripe error body, got %d %r" % (self.status, self.body[:300])
        )
        return self.json["error"]


def raw(
    method: str,
    path: str,
    *,
    key: str | None = API_KEY,
    auth: str = "bearer",
    headers: Mapping[str, str] | None = None,
    query: Any = None,
    form: Any = None,
    body: bytes | None = None,
    validate: bool = True,
) -> RawResponse:
    """One HTTP request with the standard library; no SDK involved.

    query/form: a dict or list of pairs, urlencoded (brackets are sent literally in form bodies
    and percent-encoded in queries, like the SDKs). body: raw bytes, sent as is.
    """
    u = urllib.parse.urlsplit(API_BASE)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=60)
    hdrs: dict[str, str] = {}
    if key is not None:
        if auth == "bearer":
            hdrs["Authorization"] = "Bearer " + key
        elif auth == "basic":
            hdrs["Authorization"] = "Basic " + base64.b64encode((key + ":").encode()).decode()
        else:
            raise ValueError(auth)
    if query:
        path = path + ("&" if "?" in path else "?") + urllib.parse.urlencode(query, doseq=True)
    if form is not None:
        body = urllib.parse.urlencode(form, doseq=True, safe="[]").encode()
    if body is not None:
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    hdrs.update(headers or {})
    conn.request(method, path, body=body, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    pairs = resp.getheaders()
    conn.close()
    parsed = None
    try:
        parsed = json.loads(data)
    except ValueError:
        pass
    r = RawResponse(resp.status, pairs, data, parsed)
    if validate:
        record_response_problems(method, path, resp.status, data, dict(pairs))
    return r


def raw_socket(method: str, path: str, body: bytes, key: str | None = API_KEY) -> RawResponse:
    """Like raw(), but tolerate the server answering (and closing) before the whole body is
    sent, as a server may do for an oversized request: send what it takes, then read the answer."""
    u = urllib.parse.urlsplit(API_BASE)
    sock = socket.create_connection((u.hostname, u.port or 80), timeout=60)
    head = (
        "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % (method, path, u.netloc, key, len(body))
    ).encode()
    try:
        sock.sendall(head + body)
    except (BrokenPipeError, ConnectionResetError):
        pass
    resp = http.client.HTTPResponse(sock, method=method)
    try:
        resp.begin()
        data = resp.read()
    except (ConnectionResetError, http.client.RemoteDisconnected) as e:
        raise AssertionError("no HTTP response to an oversized request (%s): the client gets no Stripe error" % e)
    finally:
        sock.close()
    pairs = resp.getheaders()
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = None
    record_response_problems(method, path, resp.status, data, dict(pairs))
    return RawResponse(resp.status, pairs, data, parsed)


# --- error assertions --------------------------------------------------------------------------------


def expect_error(
    exc_type: type[BaseException],
    fn: Callable[..., Any],
    *args: Any,
    status: int | None = None,
    type_: str | None = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    message_contains: str | Iterable[str] | None = None,
    **kwargs: Any,
) -> stripe.StripeError:
    """Call fn, expect the SDK to raise exc_type with the given Stripe error members."""
    with pytest.raises(exc_type) as ei:
        fn(*args, **kwargs)
    e = ei.value
    assert isinstance(e, stripe.StripeError)
    body = e.json_body or {}
    err = body.get("error")
    assert isinstance(err, dict), "error response is not Stripe-shaped: %r" % (e.http_body,)
    if status is not None:
        assert e.http_status == status, "HTTP %s, expected %s: %r" % (e.http_status, status, err)
    if type_ is not None:
        assert err.get("type") == type_, "error.type %r, expected %r: %r" % (err.get("type"), type_, err)
    if code is not None:
        assert err.get("code") == code, "error.code %r, expected %r: %r" % (err.get("code"), code, err)
    if param is not None:
        assert err.get("param") == param, "error.param %r, expected %r: %r" % (err.get("param"), param, err)
    assert isinstance(err.get("message"), str) and err["message"], "error.message missing: %r" % err
    if message_contains is not None:
        needles = [message_contains] if isinstance(message_contains, str) else list(message_contains)
        for n in needles:
            assert n.lower() in err["message"].lower(), "%r not in message %r" % (n, err["message"])
    assert (e.request_id or "").startswith("req_"), "error without Request-Id: %r" % e.request_id
    return e


def expect_raw_error(r: RawResponse, status: int | Iterable[int], type_: str | None = "invalid_request_error") -> dict:
    statuses = {status} if isinstance(status, int) else set(status)
    assert r.status in statuses, "HTTP %d (expected %s): %r" % (r.status, sorted(statuses), r.body[:300])
    assert (r.header("Content-Type") or "").startswith("application/json"), r.header("Content-Type")
    err = r.error
    if type_ is not None:
        assert err.get("type") == type_, err
    assert isinstance(err.get("message"), str) and err["message"], err
    assert (r.header("Request-Id") or "").startswith("req_"), r.headers
    return err


# --- polling (Stripe verifies some test values asynchronously) ---------------------------------------


def wait_for(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 15.0, interval: float = 0.25) -> Any:
    """Re-fetch until done(obj) or timeout; returns the last object (assert on it afterwards)."""
    deadline = time.monotonic() + timeout
    obj = fetch()
    while not done(obj) and time.monotonic() < deadline:
        time.sleep(interval)
        obj = fetch()
    return obj


# --- snapshots for "nothing changed" checks ----------------------------------------------------------


def newest_customer_ids(n: int = 3, **opts: Any) -> list[str]:
    lst = stripe.Customer.list(limit=n, **opts)
    check(lst)
    return [c.id for c in lst.data]


def newest_account_ids(n: int = 3) -> list[str]:
    lst = stripe.Account.list(limit=n)
    check(lst)
    return [a.id for a in lst.data]


# --- test data (Stripe's documented test values, CONVENTIONS.md 11) ----------------------------------

TEST_URL = "https://accessible.stripe.com"


def tos(ip: str = "127.0.0.1") -> dict[str, Any]:
    return {"date": int(time.time()) - 60, "ip": ip}


def us_address(line1: str = "address_full_match") -> dict[str, str]:
    return {"line1": line1, "city": "San Francisco", "state": "CA", "postal_code": "94103", "country": "US"}


def fr_address(line1: str = "address_full_match") -> dict[str, str]:
    return {"line1": line1, "city": "Paris", "postal_code": "75001", "country": "FR"}


def dob(year: int = 1901, month: int = 1, day: int = 1) -> dict[str, int]:
    return {"day": day, "month": month, "year": year}


def us_individual(**over: Any) -> dict[str, Any]:
    ind = {
        "first_name": "Jenny",
        "last_name": "Rosen",
        "email": "jenny.rosen@example.com",
        "phone": "0000000000",
        "dob": dob(),
        "address": us_address(),
        "id_number": "000000000",
    }
    ind.update(over)
    return ind


def business_profile() -> dict[str, str]:
    return {"mcc": "5734", "url": TEST_URL}


def create_custom_account(
    country: str = "US",
    business_type: str | None = "individual",
    capabilities: Iterable[str] = ("card_payments", "transfers"),
    **extra: Any,
) -> stripe.Account:
    params: dict[str, Any] = {
        "type": "custom",
        "country": country,
        "capabilities": {c: {"requested": True} for c in capabilities},
    }
    if business_type:
        params["business_type"] = business_type
    params.update(extra)
    acct = stripe.Account.create(**params)
    check(acct)
    return acct


def as_dict(obj: Any) -> dict[str, Any]:
    """StripeObject (not a dict in stripe-python 16) or None -> plain dict."""
    if obj is None:
        return {}
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def capability_statuses(acct: Any) -> dict[str, str]:
    return as_dict(acct["capabilities"] if "capabilities" in acct else None)


def requirements_of(acct: Any) -> dict[str, Any]:
    return as_dict(acct["requirements"] if "requirements" in acct else None)
