"""Validate Stripe API responses against the OpenAPI 3.0 spec in shared/stripe-api.

The spec (connect-openapi.json, Stripe API 2023-08-16) is converted once to JSON Schema
(draft 2020-12):

* ``$ref: #/components/schemas/X``  -> ``$ref: #/$defs/X``
* ``nullable: true``                -> the type also admits ``null`` (OpenAPI 3.0 semantics)
* ``oneOf``                         -> ``anyOf`` (Stripe's polymorphic members overlap)
* enums marked ``x-stripeBypassValidation`` are open (Stripe adds values without notice)
* extra properties are always allowed: the SDKs pin API 2026-10-28, newer than the spec, and
  DRIFT.md lists fields added since (``groups``, ``business_name`` ...). Required fields, types,
  nullability and closed enums are enforced.

Small, documented overlays (``DRIFT_OVERLAY``) extend a few closed enums with values that newer
API versions return (e.g. ``account.type = "none"``).

Entry points:

* ``problems(data)``: list of human-readable problems for a decoded JSON value. Every nested dict
  carrying an ``object`` member is validated against the component schema for that type
  (``deleted_<type>`` when ``deleted`` is true, a list envelope for ``list``).
* ``response_problems(method, path, status, body)``: validates a whole HTTP response: the body
  against the operation's response schema when the route is in the spec (2xx -> the 200 schema,
  otherwise the ``error`` schema), then everything nested as above.
* ``check(obj)``: assert helper for tests; accepts a StripeObject, dict or list.

Run as a script to validate saved responses: ``python openapi_check.py resp1.json ...``.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterable

import jsonschema
from jsonschema.exceptions import best_match

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent

# Newer enum values (API 2026-10-28) that the 2023 spec does not list. Keep this short and
# justified: each entry is a documented value in the current Stripe API reference / SDK types.
DRIFT_OVERLAY: dict[tuple[str, str], list[Any]] = {
    # account.type: "none" for accounts created with controller properties that match no legacy type
    ("account", "type"): ["none"],
}

# Fields that the 2023 spec declares non-nullable but the current spec (stripe/openapi "latest")
# declares nullable. (schema, property)
NULLABLE_OVERLAY: set[tuple[str, str]] = {
    ("account_bacs_debit_payments_settings", "display_name"),
}

# CONVENTIONS.md section 6: error members that do not apply may be omitted or null.
NULLABLE_ERROR_FIELDS = True


def spec_path() -> Path:
    env = os.environ.get("SLUICE_OPENAPI")
    candidates = []
    if env:
        candidates.append(Path(env))
    candidates += [
        REPO_ROOT.parent / "shared" / "stripe-api" / "connect-openapi.json",
        Path("/work/shared/stripe-api/connect-openapi.json"),
    ]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        "connect-openapi.json not found; set SLUICE_OPENAPI (tried: %s)"
        % ", ".join(str(c) for c in candidates)
    )


def _convert(node: Any) -> Any:
    """OpenAPI 3.0 schema object -> JSON Schema 2020-12."""
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-") or key in ("description", "title", "format", "example", "nullable"):
            continue
        if key == "$ref":
            out["$ref"] = "#/$defs/" + value.rsplit("/", 1)[-1]
        elif key == "properties":
            out["properties"] = {k: _convert(v) for k, v in value.items()}
        elif key in ("anyOf", "oneOf", "allOf"):
            out["anyOf" if key == "oneOf" else key] = [_convert(v) for v in value]
        elif key == "additionalProperties":
            # keep map-value schemas (metadata: string values); never forbid extra keys
            if isinstance(value, dict):
                out[key] = _convert(value)
        elif key in ("items", "not"):
            out[key] = _convert(value)
        elif key == "enum":
            out["enum"] = list(value)
        else:
            out[key] = copy.deepcopy(value)
    if node.get("x-stripeBypassValidation") and "enum" in out:
        del out["enum"]
    if node.get("nullable"):
        if "type" in out and not any(k in out for k in ("anyOf", "allOf", "$ref")):
            t = out["type"]
            out["type"] = (t if isinstance(t, list) else [t]) + ["null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"].append(None)
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _apply_overlays(defs: dict[str, Any]) -> None:
    for (schema, prop), extra in DRIFT_OVERLAY.items():
        p = defs.get(schema, {}).get("properties", {}).get(prop)
        if p is not None and "enum" in p:
            p["enum"] = list(p["enum"]) + [v for v in extra if v not in p["enum"]]
    for schema, prop in NULLABLE_OVERLAY:
        props = defs.get(schema, {}).get("properties", {})
        if prop in props:
            props[prop] = {"anyOf": [props[prop], {"type": "null"}]}
    if NULLABLE_ERROR_FIELDS and "api_errors" in defs:
        for name, p in defs["api_errors"]["properties"].items():
            if name != "type":
                defs["api_errors"]["properties"][name] = {"anyOf": [p, {"type": "null"}]}


LIST_ENVELOPE = {
    "type": "object",
    "required": ["object", "data", "has_more", "url"],
    "properties": {
        "object": {"const": "list"},
        "data": {"type": "array"},
        "has_more": {"type": "boolean"},
        "url": {"type": "string", "pattern": "^/v1/"},
    },
}

GENERIC_DELETED = {
    "type": "object",
    "required": ["id", "object", "deleted"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string"},
        "deleted": {"const": True},
    },
}


class Spec:
    def __init__(self, path: Path | None = None):
        self.path = path or spec_path()
        with open(self.path) as f:
            raw = json.load(f)
        comps = raw["components"]["schemas"]
        self.defs: dict[str, Any] = {k: _convert(v) for k, v in comps.items()}
        _apply_overlays(self.defs)
        self.defs["__list"] = LIST_ENVELOPE
        self.defs["__deleted"] = GENERIC_DELETED
        # object type -> schema name, from x-resourceId (e.g. "account" -> "account")
        self.by_object: dict[str, str] = {}
        for name, schema in comps.items():
            rid = schema.get("x-resourceId")
            if rid and "anyOf" not in schema:
                self.by_object.setdefault(rid, name)
        # operations: (METHOD, compiled path regex) -> (200 schema or None)
        self.ops: list[tuple[str, re.Pattern[str], Any]] = []
        for template, item in raw["paths"].items():
            rx = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            for method, op in item.items():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                ok = (
                    op["responses"].get("200", {})
                    .get("content", {})
                    .get("application/json", {})
                    .get("schema")
                )
                self.ops.append((method.upper(), rx, _convert(ok) if ok else None))
        # literal paths first so /v1/account does not lose to a template
        self.ops.sort(key=lambda o: o[1].pattern.count("[^/]+"))

    @functools.lru_cache(maxsize=None)
    def validator_for(self, name: str) -> jsonschema.protocols.Validator:
        return jsonschema.Draft202012Validator({"$defs": self.defs, "$ref": "#/$defs/" + name})

    def validator_for_schema(self, schema_json: str) -> jsonschema.protocols.Validator:
        return self._validator_for_schema(schema_json)

    @functools.lru_cache(maxsize=None)
    def _validator_for_schema(self, schema_json: str) -> jsonschema.protocols.Validator:
        schema = json.loads(schema_json)
        schema["$defs"] = self.defs
        return jsonschema.Draft202012Validator(schema)

    def schema_name_for(self, obj: dict[str, Any]) -> str | None:
        typ = obj.get("object")
        if not isinstance(typ, str):
            return None
        if obj.get("deleted") is True:
            return self.by_object.get("deleted_" + typ) or (
                "deleted_" + typ if "deleted_" + typ in self.defs else "__deleted"
            )
        if typ == "list":
            return "__list"
        return self.by_object.get(typ) or (typ if typ in self.defs else None)

    def operation_schema(self, method: str, path: str) -> tuple[bool, Any]:
        path = path.split("?", 1)[0]
        for m, rx, schema in self.ops:
            if m == method.upper() and rx.match(path):
                return True, schema
        return False, None


@functools.lru_cache(maxsize=None)
def spec() -> Spec:
    return Spec()


def _pick(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For anyOf failures, report the branch that came closest (fewest errors, deepest)."""
    while err.context:
        branches: dict[Any, list[jsonschema.ValidationError]] = {}
        for sub in err.context:
            branches.setdefault(sub.schema_path[0] if sub.schema_path else None, []).append(sub)
        best = min(branches.values(), key=lambda errs: (len(errs), -max(len(e.path) for e in errs)))
        err = best_match(best) or best[0]
    return err


def _fmt(err: jsonschema.ValidationError, where: str) -> str:
    err = _pick(err)
    loc = where + "".join(
        "[%d]" % p if isinstance(p, int) else "." + str(p) for p in err.absolute_path
    )
    return "%s: %s" % (loc, err.message[:400])


def _walk(value: Any, where: str, out: list[str], sp: Spec) -> None:
    if isinstance(value, dict):
        name = sp.schema_name_for(value)
        if name is not None:
            for err in sp.validator_for(name).iter_errors(value):
                out.append(_fmt(err, where) + " (schema %s)" % name)
        elif isinstance(value.get("object"), str) and "id" in value and not isinstance(value["id"], str):
            out.append("%s.id: not a string" % where)
        for k, v in value.items():
            if k == "metadata":  # user data: may contain a key named "object"
                continue
            _walk(v, "%s.%s" % (where, k), out, sp)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _walk(v, "%s[%d]" % (where, i), out, sp)


def problems(data: Any, where: str = "$") -> list[str]:
    """Schema problems of a decoded JSON value (recurses through nested objects)."""
    sp = spec()
    out: list[str] = []
    if isinstance(data, dict) and "error" in data and "object" not in data:
        for err in sp.validator_for("error").iter_errors(data):
            out.append(_fmt(err, where) + " (schema error)")
        return out
    _walk(data, where, out, sp)
    return out


def response_problems(method: str, path: str, status: int, body: bytes | str) -> list[str]:
    """Problems of one HTTP response from the API (any status)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ["%s %s -> %d: body is not JSON: %r" % (method, path, status, body[:200])]
    out: list[str] = []
    if not isinstance(data, dict):
        return ["%s %s -> %d: body is not a JSON object" % (method, path, status)]
    sp = spec()
    if status >= 400:
        if "error" not in data:
            out.append("%s %s -> %d: error response without an `error` member" % (method, path, status))
        else:
            out += problems(data)
        return out
    known, schema = sp.operation_schema(method, path)
    if known and schema is not None:
        v = sp.validator_for_schema(json.dumps(schema, sort_keys=True))
        for err in v.iter_errors(data):
            out.append(_fmt(err, "$") + " (operation %s %s)" % (method, path.split("?")[0]))
    if "object" not in data:
        out.append("%s %s -> %d: success body without `object`" % (method, path, status))
    out += problems(data)
    # de-duplicate while keeping order (operation and nested checks can overlap)
    seen: set[str] = set()
    uniq = []
    for p in out:
        key = p.rsplit(" (", 1)[0]
        if key not in seen:
            seen.add(key)
            uniq.append(p)
    return uniq


def to_json(obj: Any) -> Any:
    """StripeObject (or a list of them) -> plain JSON data."""
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        # StripeObject.to_dict() recurses; it may keep Decimal for decimal_string fields
        return json.loads(json.dumps(obj.to_dict(), default=str))
    if isinstance(obj, (list, tuple)):
        return [to_json(o) for o in obj]
    return obj


# SLUICE_SCHEMA_CHECK=warn turns schema violations into a report instead of test failures, to
# see behavioural failures behind a pervasive schema bug. The default (strict) is what CI runs.
SOFT = os.environ.get("SLUICE_SCHEMA_CHECK", "strict") == "warn"
SEEN: dict[str, int] = {}  # normalized violation -> count, for the end-of-run summary


def note(found: list[str]) -> None:
    for p in found:
        key = re.sub(r"^[A-Z]+ /\S* -> \d+: ", "", p)  # same problem via SDK hook and check()
        key = re.sub(r" \((schema|operation) [^)]*\)$", "", key)
        key = re.sub(r"\[\d+\]", "[]", key)
        key = re.sub(r"\b(acct|cus|ba|card|person|req)_[A-Za-z0-9]+", r"\1_X", key)
        SEEN[key] = SEEN.get(key, 0) + 1


def check(obj: Any) -> Any:
    """Assert that obj (StripeObject, dict or list) is valid per the spec. Returns obj."""
    found = problems(to_json(obj))
    note(found)
    if not SOFT:
        assert not found, "response does not match the OpenAPI spec:\n  " + "\n  ".join(found)
    return obj


def check_all(objs: Iterable[Any]) -> None:
    for o in objs:
        check(o)


if __name__ == "__main__":
    bad = 0
    for fname in sys.argv[1:]:
        with open(fname) as fh:
            found = problems(json.load(fh))
        for p in found:
            print("%s: %s" % (fname, p))
        bad += bool(found)
    sys.exit(1 if bad else 0)
