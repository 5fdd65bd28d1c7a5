"""Routing and request validation generated from the discovery documents shipped inside googleapiclient.

The emulator never lists paths by hand: every documented method of the seven APIs the district uses becomes a
route (its ``flatPath``/``path`` under the document's ``servicePath``, plus media-upload paths), so a path the
client builds wrongly fails here exactly as it would at Google, and a request body is checked against the same
``schemas`` Google's front end uses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import googleapiclient

from emulator.errors import ApiError, bad_request

DOCUMENTS_DIR = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
# (discovery file stem, host service name used in error details)
APIS: dict[str, str] = {
    "gmail.v1": "gmail.googleapis.com",
    "drive.v3": "drive.googleapis.com",
    "sheets.v4": "sheets.googleapis.com",
    "forms.v1": "forms.googleapis.com",
    "admin.directory_v1": "admin.googleapis.com",
    "youtube.v3": "youtube.googleapis.com",
    "blogger.v3": "blogger.googleapis.com",
}
_VAR = re.compile(r"\{(\+?)([^}]+)\}")


@dataclass
class MethodSpec:
    """One documented method, with what routing and validation need."""

    id: str  # e.g. "gmail.users.messages.send"
    api: str  # discovery stem, e.g. "gmail.v1"
    service: str  # host name, e.g. "gmail.googleapis.com"
    http_method: str
    path: str  # full path below the host, servicePath included, no leading slash
    parameters: dict[str, dict[str, Any]]
    scopes: list[str]
    request_ref: str | None
    response_ref: str | None
    media_upload: bool = False
    supports_media_download: bool = False
    upload_paths: list[str] = field(default_factory=list)


@dataclass
class Route:
    spec: MethodSpec
    regex: re.Pattern[str]
    literal_len: int
    variables: int
    is_upload: bool
    # when the method's `path` uses {+var} and routing used flatPath, this regex recovers the real parameters
    param_regex: re.Pattern[str] | None = None


@dataclass
class Match:
    spec: MethodSpec
    path_params: dict[str, str]
    is_upload: bool


def _compile(template: str) -> tuple[re.Pattern[str], int, int]:
    pattern = ""
    last = 0
    literal = 0
    variables = 0
    for m in _VAR.finditer(template):
        chunk = template[last : m.start()]
        pattern += re.escape(chunk)
        literal += len(chunk)
        variables += 1
        name = re.sub(r"\W", "_", m.group(2))
        pattern += f"(?P<{name}>.+)" if m.group(1) else f"(?P<{name}>[^/]+)"
        last = m.end()
    tail = template[last:]
    pattern += re.escape(tail)
    literal += len(tail)
    return re.compile(f"^{pattern}$"), literal, variables


def _walk(resource: dict[str, Any]):
    yield from resource.get("methods", {}).values()
    for child in resource.get("resources", {}).values():
        yield from _walk(child)


@cache
def load_document(api: str) -> dict[str, Any]:
    """The discovery document as googleapiclient ships it (cached for the process)."""
    return json.loads((DOCUMENTS_DIR / f"{api}.json").read_text())


class Registry:
    """Every documented method of the emulated APIs, indexed for routing."""

    def __init__(self) -> None:
        self.methods: dict[str, MethodSpec] = {}
        self.schemas: dict[str, dict[str, dict[str, Any]]] = {}
        self.global_params: dict[str, dict[str, dict[str, Any]]] = {}
        self.batch_paths: set[str] = {"batch"}
        self._routes: dict[str, list[Route]] = {}
        for api, service in APIS.items():
            doc = load_document(api)
            self.schemas[api] = doc.get("schemas", {})
            self.global_params[api] = doc.get("parameters", {})
            service_path = doc.get("servicePath", "")
            self.batch_paths.add(doc.get("batchPath", "batch"))
            self.batch_paths.add(f"batch/{doc['name']}/{doc['version']}")
            for desc in _walk(doc):
                spec = MethodSpec(
                    id=desc["id"],
                    api=api,
                    service=service,
                    http_method=desc["httpMethod"],
                    path=service_path + desc["path"],
                    parameters=desc.get("parameters", {}),
                    scopes=desc.get("scopes", []),
                    request_ref=(desc.get("request") or {}).get("$ref"),
                    response_ref=(desc.get("response") or {}).get("$ref"),
                    supports_media_download=bool(desc.get("supportsMediaDownload")),
                )
                self.methods[spec.id] = spec
                flat = service_path + desc.get("flatPath", desc["path"])
                param_regex = None
                if flat != spec.path:
                    param_regex = _compile(spec.path)[0]
                self._add(spec, flat, False, param_regex)
                protocols = (desc.get("mediaUpload") or {}).get("protocols", {})
                if protocols:
                    spec.media_upload = True
                    for proto in protocols.values():
                        upload = proto["path"].lstrip("/")
                        spec.upload_paths.append(upload)
                        self._add(spec, upload, True, None)

    def _add(self, spec: MethodSpec, template: str, is_upload: bool, param_regex: re.Pattern[str] | None) -> None:
        regex, literal, variables = _compile(template)
        first = template.split("/", 1)[0]
        self._routes.setdefault(first, []).append(Route(spec, regex, literal, variables, is_upload, param_regex))

    def match(self, http_method: str, raw_path: str) -> Match | None:
        """The documented method for this request, or None (Google answers 404 for both cases)."""
        path = raw_path.lstrip("/")
        best: Route | None = None
        best_match: re.Match[str] | None = None
        for route in self._routes.get(path.split("/", 1)[0], ()):
            if route.spec.http_method != http_method:
                continue
            m = route.regex.match(path)
            if m is None:
                continue
            if best is None or (route.literal_len, -route.variables) > (best.literal_len, -best.variables):
                best, best_match = route, m
        if best is None or best_match is None:
            return None
        groups = best_match.groupdict()
        if best.param_regex is not None:
            pm = best.param_regex.match(path)
            if pm is not None:
                groups = pm.groupdict()
        params = {}
        names = {re.sub(r"\W", "_", k): k for k in best.spec.parameters}
        for key, value in groups.items():
            params[names.get(key, key)] = unquote(value)
        return Match(best.spec, params, best.is_upload)

    def is_batch_path(self, raw_path: str) -> bool:
        return raw_path.strip("/") in self.batch_paths


@cache
def registry() -> Registry:
    """The process-wide registry (building it reads ~1 MB of JSON once)."""
    return Registry()


# ---------------------------------------------------------------------------------------------------------------
# Query parameters
# ---------------------------------------------------------------------------------------------------------------


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def coerce_query(spec: MethodSpec, query: list[tuple[str, str]], global_params: dict[str, Any]) -> dict[str, Any]:
    """Query parameters typed per the discovery document; unknown names and bad values answer 400 like Google."""
    out: dict[str, Any] = {}
    for name, raw in query:
        desc = spec.parameters.get(name)
        if desc is None:
            if name in global_params:
                out[name] = raw
                continue
            raise bad_request(
                f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter. '
                f"Field '{name}' could not be found in request message.",
                field=name,
            )
        if desc.get("location") == "path":
            continue
        value: Any = raw
        kind = desc.get("type")
        if kind == "integer":
            try:
                value = int(raw)
            except ValueError:
                raise bad_request(
                    f"Invalid value at '{_snake(name)}' (TYPE_{'INT64' if desc.get('format') == 'int64' else 'INT32'})"
                    f', "{raw}"',
                    field=_snake(name),
                ) from None
            lo, hi = desc.get("minimum"), desc.get("maximum")
            if (lo is not None and value < int(lo)) or (hi is not None and value > int(hi)):
                raise ApiError(400, f"Invalid value '{raw}'. Values must be within the range: [{lo}, {hi}]", "invalid")
        elif kind == "boolean":
            if raw.lower() not in ("true", "false"):
                raise bad_request(f"Invalid value at '{_snake(name)}' (TYPE_BOOL), \"{raw}\"", field=_snake(name))
            value = raw.lower() == "true"
        if "enum" in desc and raw not in desc["enum"]:
            raise bad_request(f"Invalid value at '{_snake(name)}' (TYPE_ENUM), \"{raw}\"", field=_snake(name))
        if desc.get("repeated"):
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    for name, desc in spec.parameters.items():
        if desc.get("location") == "query" and desc.get("required") and name not in out:
            raise bad_request(f"Required parameter: {name}", reason="required")
    return out


# ---------------------------------------------------------------------------------------------------------------
# Request bodies
# ---------------------------------------------------------------------------------------------------------------

_TYPE_NAMES = {"string": "TYPE_STRING", "boolean": "TYPE_BOOL", "number": "TYPE_DOUBLE"}


def body_location(spec: MethodSpec) -> str | None:
    """Google's name for where the body binds: the request field (snake case) or None for ``body: "*"``."""
    ref = spec.request_ref or ""
    if ref.endswith("Request"):
        return None
    return _snake(ref) if ref else None


def validate_body(api: str, ref: str, body: Any, location: str | None) -> None:
    """Check a JSON body against the discovery schema; raise 400 with Google's wording on the first problems."""
    schemas = registry().schemas[api]
    problems: list[str] = []
    _check(schemas, {"$ref": ref}, body, location, problems)
    if problems:
        message = "\n".join(problems[:5])
        raise bad_request(message, reason="invalid", field=location or "")


def _join(path: str | None, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check(schemas: dict[str, Any], desc: dict[str, Any], value: Any, path: str | None, problems: list[str]) -> None:
    if "$ref" in desc:
        desc = schemas.get(desc["$ref"], {})
    kind = desc.get("type")
    where = path or ""
    if kind == "object" and "properties" in desc:
        if not isinstance(value, dict):
            problems.append(f"Invalid value at '{where}' (TYPE_MESSAGE), {json.dumps(value)}")
            return
        props = desc["properties"]
        for key, item in value.items():
            if key not in props:
                at = f" at '{path}'" if path else ""
                problems.append(f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.')
                continue
            _check(schemas, props[key], item, _join(path, _snake(key)), problems)
        return
    if kind == "object":  # map type (additionalProperties) or free-form
        if not isinstance(value, dict):
            problems.append(f"Invalid value at '{where}' (TYPE_MESSAGE), {json.dumps(value)}")
            return
        extra = desc.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                _check(schemas, extra, item, f"{where}[{key}]", problems)
        return
    if kind == "array":
        if not isinstance(value, list):
            if isinstance(value, dict | str | int | float | bool):
                problems.append(
                    f"Invalid value at '{where}' (TYPE_{_proto_type(desc.get('items', {}), schemas)}), "
                    f"{json.dumps(value)}"
                )
            return
        for index, item in enumerate(value):
            _check(schemas, desc.get("items", {}), item, f"{where}[{index}]", problems)
        return
    if value is None:
        return
    if kind == "string":
        fmt = desc.get("format")
        if fmt in ("int64", "uint64") and isinstance(value, int) and not isinstance(value, bool):
            return
        if not isinstance(value, str):
            problems.append(f"Invalid value at '{where}' ({_TYPE_NAMES['string']}), {json.dumps(value)}")
            return
        if "enum" in desc and value not in desc["enum"]:
            problems.append(f"Invalid value at '{where}' (TYPE_ENUM), {json.dumps(value)}")
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"Invalid value at '{where}' (TYPE_BOOL), {json.dumps(value)}")
        return
    if kind == "integer":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | str)
            or isinstance(value, str)
            and not re.fullmatch(r"-?\d+", value)
        ):
            problems.append(f"Invalid value at '{where}' (TYPE_INT32), {json.dumps(value)}")
        return
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"Invalid value at '{where}' (TYPE_DOUBLE), {json.dumps(value)}")
        return


def _proto_type(desc: dict[str, Any], schemas: dict[str, Any]) -> str:
    if "$ref" in desc:
        return "MESSAGE"
    return {"string": "STRING", "boolean": "BOOL", "integer": "INT32", "number": "DOUBLE"}.get(
        desc.get("type", ""), "MESSAGE"
    )


# ---------------------------------------------------------------------------------------------------------------
# Partial responses (`fields=`)
# ---------------------------------------------------------------------------------------------------------------


def parse_fields(spec: str) -> dict[str, Any]:
    """Parse Google's ``fields`` selector (``a,b/c,d(e,f)``) into a nested dict; ``{}`` means the whole value."""
    pos = 0

    def parse_list() -> dict[str, Any]:
        nonlocal pos
        out: dict[str, Any] = {}
        while pos < len(spec):
            start = pos
            while pos < len(spec) and spec[pos] not in ",()/":
                pos += 1
            name = spec[start:pos].strip()
            node = out.setdefault(name, {}) if name else out
            # follow a/b/c chains
            while pos < len(spec) and spec[pos] == "/":
                pos += 1
                start = pos
                while pos < len(spec) and spec[pos] not in ",()/":
                    pos += 1
                node = node.setdefault(spec[start:pos].strip(), {})
            if pos < len(spec) and spec[pos] == "(":
                pos += 1
                node.update(parse_list())
                pos += 1  # ')'
            if pos < len(spec) and spec[pos] == ",":
                pos += 1
                continue
            if pos < len(spec) and spec[pos] == ")":
                break
        return out

    return parse_list()


def apply_fields(value: Any, mask: dict[str, Any]) -> Any:
    """Keep only the selected fields (lists apply the mask to each element)."""
    if not mask or "*" in mask:
        return value
    if isinstance(value, list):
        return [apply_fields(v, mask) for v in value]
    if not isinstance(value, dict):
        return value
    return {k: apply_fields(value[k], sub) for k, sub in mask.items() if k in value}
