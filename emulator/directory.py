"""Admin SDK Directory: users and org units, indexed in memory so 75,000 users page quickly."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Callable
from typing import Any

from emulator.core import Call, Context, decode_token, encode_token
from emulator.errors import ApiError, bad_request

PAGE_TOKEN_LIFETIME_S = 3 * 24 * 3600  # Google: "The page token is only valid for three days."
_QUERY_TERM = re.compile(r"^(?P<field>[A-Za-z.]+)(?P<op>[:=<>]|<=|>=)(?P<value>.*)$")
_FIELDS = {
    "email": lambda u: [u.get("primaryEmail", ""), *[a for a in u.get("aliases", [])]],
    "name": lambda u: [u.get("name", {}).get("fullName", "")],
    "givenname": lambda u: [u.get("name", {}).get("givenName", "")],
    "familyname": lambda u: [u.get("name", {}).get("familyName", "")],
    "orgunitpath": lambda u: [u.get("orgUnitPath", "/")],
    "issuspended": lambda u: [str(bool(u.get("suspended", False))).lower()],
    "isadmin": lambda u: [str(bool(u.get("isAdmin", False))).lower()],
    "orgtitle": lambda u: [o.get("title", "") for o in u.get("organizations", [])],
    "orgname": lambda u: [o.get("name", "") for o in u.get("organizations", [])],
    "orgdepartment": lambda u: [o.get("department", "") for o in u.get("organizations", [])],
    "externalid": lambda u: [e.get("value", "") for e in u.get("externalIds", [])],
}


def _parse_query(query: str) -> list[Callable[[dict[str, Any]], bool]]:
    """Google's user search: space-separated ``field:prefix`` / ``field=exact`` terms, ANDed; quotes allowed."""
    try:
        terms = shlex.split(query)
    except ValueError:
        raise ApiError(400, "Invalid Input", "invalid") from None
    preds: list[Callable[[dict[str, Any]], bool]] = []
    for term in terms:
        m = _QUERY_TERM.match(term)
        if m is None:
            # a bare word matches names and emails, like the Admin console search box
            word = term.lower()
            preds.append(lambda u, w=word: any(w in v.lower() for f in ("email", "name") for v in _FIELDS[f](u)))
            continue
        field, op, value = m.group("field").lower(), m.group("op"), m.group("value").strip("'\"")
        if field.startswith("customschemas.") or "." in field:
            schema, _, key = m.group("field").partition(".")
            preds.append(lambda u, s=schema, k=key, v=value.lower(), o=op: _custom_match(u, s, k, v, o))
            continue
        getter = _FIELDS.get(field)
        if getter is None:
            raise ApiError(400, "Invalid Input", "invalid")
        low = value.lower()
        if field == "orgunitpath":
            base = low.rstrip("/") or "/"
            # orgUnitPath matches the whole chain under the target org unit
            preds.append(
                lambda u, b=base: (lambda p: b == "/" or p == b or p.startswith(b + "/"))(
                    (u.get("orgUnitPath") or "/").lower()
                )
            )
        elif op == ":":
            if field == "email" and "@" not in low:
                preds.append(lambda u, g=getter, v=low: any(x.lower().startswith(v) for x in g(u)))
            else:
                preds.append(
                    lambda u, g=getter, v=low: any(
                        x.lower().startswith(v) or any(w.startswith(v) for w in x.lower().split()) for x in g(u)
                    )
                )
        elif op == "=":
            preds.append(lambda u, g=getter, v=low: any(x.lower() == v for x in g(u)))
        else:
            raise ApiError(400, "Invalid Input", "invalid")
    return preds


def _custom_match(user: dict[str, Any], schema: str, key: str, value: str, op: str) -> bool:
    got = (user.get("customSchemas") or {}).get(schema, {}).get(key)
    if got is None:
        return False
    got = str(got).lower()
    return got == value if op == "=" else got.startswith(value)


class Directory:
    """Users and org units of one customer (``my_customer``)."""

    CUSTOMER_ID = "C0emul8r"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.reset()

    def reset(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}  # by id
        self.by_key: dict[str, str] = {}  # lowercased email/alias/id -> id
        self.orgunits: dict[str, dict[str, Any]] = {}  # by lowercased path
        self._sorted: dict[str, list[tuple[str, str]]] = {}
        self._cache: dict[tuple[Any, ...], list[tuple[str, str]]] = {}
        self.version = 0

    # -- seeding -------------------------------------------------------------------------------------------

    def seed(self, users: list[dict[str, Any]], orgunits: list[dict[str, Any]]) -> None:
        for ou in orgunits:
            path = ou.get("orgUnitPath") or "/" + ou["name"]
            record = {"kind": "admin#directory#orgUnit", "orgUnitPath": path, **ou}
            record.setdefault("orgUnitId", "id:" + hashlib.sha1(path.encode()).hexdigest()[:8])
            record.setdefault("name", path.rsplit("/", 1)[-1])
            record.setdefault("parentOrgUnitPath", path.rsplit("/", 1)[0] or "/")
            self.orgunits[path.lower()] = record
        # one JSON round trip copies the whole batch far faster than deepcopy per user
        for user in json.loads(json.dumps(users)):
            email = user.get("primaryEmail")
            if not email:
                raise ValueError("every seeded user needs primaryEmail")
            user.setdefault("id", str(int(hashlib.sha1(email.lower().encode()).hexdigest()[:15], 16)))
            user.setdefault("kind", "admin#directory#user")
            user.setdefault("orgUnitPath", "/")
            user.setdefault("suspended", False)
            user.setdefault("isAdmin", False)
            user.setdefault("customerId", self.CUSTOMER_ID)
            name = user.setdefault("name", {})
            name.setdefault("fullName", f"{name.get('givenName', '')} {name.get('familyName', '')}".strip())
            old = self.by_key.get(email.lower())
            if old and old != user["id"]:
                self.users.pop(old, None)
            self.users[user["id"]] = user
            self.by_key[email.lower()] = user["id"]
            self.by_key[user["id"]] = user["id"]
            for alias in user.get("aliases", []):
                self.by_key[alias.lower()] = user["id"]
        self._rebuild()

    def _rebuild(self) -> None:
        self.version += 1
        self._cache.clear()
        users = list(self.users.values())
        self._sorted = {
            "email": sorted((u["primaryEmail"].lower(), u["id"]) for u in users),
            "givenName": sorted(
                (u["name"].get("givenName", "").lower() + "\0" + u["primaryEmail"].lower(), u["id"]) for u in users
            ),
            "familyName": sorted(
                (u["name"].get("familyName", "").lower() + "\0" + u["primaryEmail"].lower(), u["id"]) for u in users
            ),
        }

    def find(self, key: str) -> dict[str, Any] | None:
        uid = self.by_key.get(key.lower())
        return self.users.get(uid) if uid else None

    def domains(self) -> set[str]:
        return {k.split("@", 1)[1] for k in self.by_key if "@" in k}

    # -- handlers ------------------------------------------------------------------------------------------

    def handlers(self) -> dict[str, Callable[[Call], Any]]:
        return {
            "directory.users.list": self.users_list,
            "directory.users.get": self.users_get,
            "directory.orgunits.list": self.orgunits_list,
            "directory.orgunits.get": self.orgunits_get,
        }

    def _check_customer(self, customer: str) -> None:
        if customer not in ("my_customer", self.CUSTOMER_ID):
            raise ApiError(400, "Bad Request", "badRequest")

    def _project(self, user: dict[str, Any], projection: str, mask: str | None) -> dict[str, Any]:
        """Google's projections: ``basic`` leaves custom fields out, ``custom`` gives the schemas named in
        ``customFieldMask`` (comma-separated schema names), ``full`` gives every field. A schema with no value
        set for the user is absent, as in Google's answers."""
        if projection not in ("basic", "custom", "full"):
            raise ApiError(400, f"Invalid value for projection: {projection}", "invalid")
        if projection == "full":
            return user
        out = {k: v for k, v in user.items() if k != "customSchemas"}
        if projection == "custom" and mask:
            wanted = {s.strip() for s in mask.split(",")}
            schemas = {k: v for k, v in (user.get("customSchemas") or {}).items() if k in wanted}
            if schemas:
                out["customSchemas"] = schemas
        return out

    def users_list(self, call: Call) -> dict[str, Any]:
        q = call.query
        customer, domain = q.get("customer"), q.get("domain")
        if not customer and not domain:
            raise ApiError(400, "Bad Request", "badRequest")
        if customer:
            self._check_customer(customer)
        if q.get("projection") == "custom" and not q.get("customFieldMask"):
            raise ApiError(400, "Invalid Input: custom fields mask is required for custom projection", "invalid")
        order = q.get("orderBy", "email")
        descending = q.get("sortOrder") == "DESCENDING"
        query = q.get("query", "")
        show_deleted = str(q.get("showDeleted", "false")).lower() == "true"
        key = (self.version, (domain or "").lower(), query, order, descending, show_deleted)
        ids = self._cache.get(key)
        if ids is None:
            preds = _parse_query(query)
            dom = "@" + domain.lower() if domain else None
            ids = []
            for item in self._sorted[order]:
                user = self.users[item[1]]
                if show_deleted:
                    continue  # the emulator holds no deleted users
                if dom and not user["primaryEmail"].lower().endswith(dom):
                    continue
                if all(p(user) for p in preds):
                    ids.append(item)
            if descending:
                ids.reverse()
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = ids
        size = q.get("maxResults", 100)
        start = 0
        if q.get("pageToken"):
            data = decode_token(q["pageToken"])
            if data.get("q") != hashlib.sha1(repr(key[1:]).encode()).hexdigest()[:12]:
                raise ApiError(400, "Invalid Input: pageToken does not match the query", "invalid")
            if call.now.timestamp() - float(data.get("t", 0)) > PAGE_TOKEN_LIFETIME_S:
                raise ApiError(400, "Invalid Input: pageToken has expired", "invalid")
            if data.get("v") == self.version:
                start = int(data["o"])
            else:  # the directory changed since: resume after the last key seen
                last = data["k"]
                start = next((i for i, (k, _) in enumerate(ids) if (k < last if descending else k > last)), len(ids))
        page = ids[start : start + size]
        projection = q.get("projection", "basic")
        out: dict[str, Any] = {
            "kind": "admin#directory#users",
            "etag": f'"{self.version}-{start}"',
            "users": [self._project(self.users[i], projection, q.get("customFieldMask")) for _, i in page],
        }
        if not out["users"]:
            del out["users"]
        if start + size < len(ids):
            out["nextPageToken"] = encode_token(
                {
                    "k": page[-1][0],
                    "o": start + size,
                    "v": self.version,
                    "t": int(call.now.timestamp()),
                    "q": hashlib.sha1(repr(key[1:]).encode()).hexdigest()[:12],
                }
            )
        return out

    def users_get(self, call: Call) -> dict[str, Any]:
        projection = call.query.get("projection", "basic")
        if projection == "custom" and not call.query.get("customFieldMask"):
            raise ApiError(400, "Invalid Input: custom fields mask is required for custom projection", "invalid")
        user = self.find(call.path["userKey"])
        if user is None:
            raise ApiError(404, "Resource Not Found: userKey", "notFound")
        return self._project(user, projection, call.query.get("customFieldMask"))

    def orgunits_list(self, call: Call) -> dict[str, Any]:
        self._check_customer(call.path["customerId"])
        base = (call.query.get("orgUnitPath") or "/").rstrip("/").lower() or "/"
        kind = call.query.get("type", "all")
        units = []
        for path, unit in sorted(self.orgunits.items()):
            parent = (unit.get("parentOrgUnitPath") or "/").lower()
            inside = base == "/" or path.startswith(base + "/")
            if kind == "children" and parent != base:
                continue
            if kind == "allIncludingParent" and not (inside or path == base):
                continue
            if kind not in ("children", "allIncludingParent") and not inside:
                continue
            units.append(unit)
        return {"kind": "admin#directory#orgUnits", "etag": f'"{self.version}"', "organizationUnits": units}

    def orgunits_get(self, call: Call) -> dict[str, Any]:
        self._check_customer(call.path["customerId"])
        path = call.path["orgUnitPath"]
        unit = self.orgunits.get(("/" + path.lstrip("/")).lower())
        if unit is None:
            raise bad_request("Org unit not found", reason="notFound")
        return unit
