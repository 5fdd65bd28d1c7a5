"""The project's one Google client layer: credentials, client factory, retries, batches, paging, wrappers.

Tasks import from here (or from ``compliance.google.workspace``); nothing else builds Google clients. No
Prefect import except the lazy Secret-block loader in ``credentials``.
"""

from compliance.google.batch import execute_batch
from compliance.google.clients import GoogleClients
from compliance.google.errors import (
    DailyLimitExceeded,
    GoogleApiError,
    InsufficientScope,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    classify_http_error,
)
from compliance.google.paging import paginate
from compliance.google.retry import RetryPolicy, execute

__all__ = [
    "DailyLimitExceeded",
    "GoogleApiError",
    "GoogleClients",
    "InsufficientScope",
    "NotFound",
    "OutcomeUnknown",
    "PermissionDenied",
    "RateLimited",
    "RetryPolicy",
    "classify_http_error",
    "execute",
    "execute_batch",
    "paginate",
]
