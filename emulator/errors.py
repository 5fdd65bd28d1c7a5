"""Google's JSON error envelope, so client code meets the same shapes offline as against Google."""

from __future__ import annotations

import json
from typing import Any

_STATUS_FOR_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ApiError(Exception):
    """An error answered in Google's shape: ``{"error": {code, message, errors[], status, details?}}``."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str,
        *,
        status: str | None = None,
        domain: str = "global",
        detail_message: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.status = status or _STATUS_FOR_CODE.get(code, "UNKNOWN")
        self.domain = domain
        self.detail_message = detail_message or message
        self.details = details
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """The JSON document Google would send."""
        item: dict[str, Any] = {"message": self.detail_message, "domain": self.domain, "reason": self.reason}
        item.update(self.extra)
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "errors": [item],
            "status": self.status,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def json_bytes(self) -> bytes:
        return json.dumps(self.body(), indent=2).encode()


def not_found(message: str = "Requested entity was not found.") -> ApiError:
    return ApiError(404, message, "notFound")


def bad_request(message: str, reason: str = "badRequest", field: str | None = None) -> ApiError:
    details = None
    if field is not None:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field, "description": message}],
            }
        ]
    return ApiError(400, message, reason, details=details)


def invalid_argument(message: str, field: str | None = None) -> ApiError:
    return bad_request(message, reason="invalid", field=field)


def failed_precondition(message: str) -> ApiError:
    return ApiError(400, message, "failedPrecondition", status="FAILED_PRECONDITION")


def forbidden(message: str, reason: str = "forbidden") -> ApiError:
    return ApiError(403, message, reason)


def unimplemented(method_id: str) -> ApiError:
    return ApiError(
        501,
        f"Method {method_id} is documented by Google but not implemented by the Workspace emulator.",
        "notImplemented",
    )


def unauthenticated(missing: bool) -> ApiError:
    if missing:
        return ApiError(
            401,
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie "
            "or other valid authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project.",
            "required",
            detail_message="Login Required.",
            extra={"location": "Authorization", "locationType": "header"},
            headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
        )
    return ApiError(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
        "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "authError",
        detail_message="Invalid Credentials",
        extra={"location": "Authorization", "locationType": "header"},
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
    )


def insufficient_scopes(service: str, method_id: str) -> ApiError:
    return ApiError(
        403,
        "Request had insufficient authentication scopes.",
        "insufficientPermissions",
        detail_message="Insufficient Permission",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                "domain": "googleapis.com",
                "metadata": {"service": service, "method": method_id},
            }
        ],
    )
