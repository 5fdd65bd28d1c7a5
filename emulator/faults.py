"""Injected failures (errors, latency, hangs), deterministic for a given seed so a failing test replays."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from emulator.errors import ApiError

_FAULT_ERRORS: dict[int, tuple[str, str, str]] = {
    429: ("Resource has been exhausted (e.g. check quota).", "rateLimitExceeded", "RESOURCE_EXHAUSTED"),
    500: ("Internal error encountered.", "backendError", "INTERNAL"),
    502: ("Bad Gateway", "backendError", "UNAVAILABLE"),
    503: ("The service is currently unavailable.", "backendError", "UNAVAILABLE"),
    504: ("The request timed out. Please try again.", "backendError", "DEADLINE_EXCEEDED"),
    403: ("User Rate Limit Exceeded", "userRateLimitExceeded", "PERMISSION_DENIED"),
    413: ("Request payload size exceeds the limit: 36700160 bytes.", "uploadTooLarge", "INVALID_ARGUMENT"),
}
# A 403 that is no rate limit: the classic first-deployment error, as Google words it.
# Google names the API that is off (the method's service), so the fix can be read from the message.
_API_OF_SERVICE = {
    "gmail": ("Gmail API", "gmail.googleapis.com"),
    "directory": ("Admin SDK API", "admin.googleapis.com"),
    "drive": ("Google Drive API", "drive.googleapis.com"),
    "sheets": ("Google Sheets API", "sheets.googleapis.com"),
    "forms": ("Google Forms API", "forms.googleapis.com"),
    "docs": ("Google Docs API", "docs.googleapis.com"),
}


def _access_not_configured(method_id: str) -> tuple[str, str, str]:
    title, host = _API_OF_SERVICE.get(method_id.split(".", 1)[0], _API_OF_SERVICE["gmail"])
    message = (
        f"{title} has not been used in project 0 before or it is disabled. Enable it by visiting "
        f"https://console.developers.google.com/apis/api/{host}/overview?project=0 then retry."
    )
    return message, "accessNotConfigured", "PERMISSION_DENIED"


@dataclass
class FaultRule:
    """One rule from ``POST /_emulator/faults``; ``count`` caps how many calls it fails (None: no cap)."""

    method: str = "*"
    error_rate: float = 0.0
    statuses: list[int] = field(default_factory=lambda: [429, 500, 503])
    latency_ms: int = 0
    timeout_rate: float = 0.0
    hang_ms: int = 120_000
    reason: str | None = None  # "accessNotConfigured": a 403 that is a set-up error, not a rate limit
    hold: bool = False  # park matching calls until the admin API releases them (a deterministic "mid-request")
    count: int | None = None
    fired: int = 0


@dataclass
class FaultDecision:
    latency_s: float = 0.0
    hang_s: float = 0.0
    hold: bool = False
    error: ApiError | None = None


class Faults:
    """Rules plus one seeded random stream: the n-th matching call always gets the same fate."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rules: list[FaultRule] = []
        self._rng = random.Random(seed)

    def configure(self, body: dict[str, Any]) -> FaultRule:
        allowed = {f for f in FaultRule.__dataclass_fields__ if f != "fired"}
        unknown = set(body) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        rule = FaultRule(**body)
        if not 0 <= rule.error_rate <= 1 or not 0 <= rule.timeout_rate <= 1:
            raise ValueError("error_rate and timeout_rate must be within [0, 1]")
        if rule.reason not in (None, "accessNotConfigured"):
            raise ValueError("reason must be accessNotConfigured (with status 403) or unset")
        bad = [s for s in rule.statuses if s not in _FAULT_ERRORS]
        if bad:
            raise ValueError(f"unsupported fault statuses {bad}; choose from {sorted(_FAULT_ERRORS)}")
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()
        self._rng = random.Random(self.seed)

    def decide(self, method_id: str, *, named_only: bool = False) -> FaultDecision:
        """The fate of the next call of ``method_id``. ``named_only``: only rules naming it apply, not ``*``
        (the token endpoint, ``oauth2.token``, fails only when a drill asks for it by name)."""
        decision = FaultDecision()
        for rule in self.rules:
            if rule.method != method_id and (named_only or rule.method != "*"):
                continue
            if rule.count is not None and rule.fired >= rule.count:
                continue
            decision.latency_s += rule.latency_ms / 1000
            if rule.hold:
                rule.fired += 1
                decision.hold = True
                return decision
            if rule.timeout_rate and self._rng.random() < rule.timeout_rate:
                rule.fired += 1
                decision.hang_s = rule.hang_ms / 1000
                return decision
            if rule.error_rate and self._rng.random() < rule.error_rate:
                rule.fired += 1
                status = rule.statuses[self._rng.randrange(len(rule.statuses))]
                message, reason, state = _FAULT_ERRORS[status]
                if status == 403 and rule.reason == "accessNotConfigured":
                    message, reason, state = _access_not_configured(method_id)
                rate_limit = status == 429 or reason == "userRateLimitExceeded"
                domain = "usageLimits" if rate_limit else "global"
                decision.error = ApiError(status, message, reason, status=state, domain=domain)
                return decision
        return decision
