"""Iterate list methods page by page through ``nextPageToken``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from compliance.google.retry import RetryPolicy, execute


def paginate(
    method: Callable[..., Any],
    items_key: str,
    *,
    policy: RetryPolicy | None = None,
    **params: Any,
) -> Iterator[dict[str, Any]]:
    """Yield every item of ``items_key`` across pages of ``method(**params)``.

    ``method`` is a googleapiclient list method, e.g. ``service.users().list``; each page is fetched through
    :func:`compliance.google.retry.execute` with ``policy``. Pages without ``items_key`` (an empty result)
    yield nothing. Stops when a page has no ``nextPageToken``; a token repeating itself is a server bug and
    raises rather than looping forever.
    """
    token: str | None = None
    seen: set[str] = set()
    while True:
        page_params = dict(params)
        if token:
            page_params["pageToken"] = token
        page = execute(method(**page_params), policy=policy)
        yield from page.get(items_key) or []
        token = page.get("nextPageToken")
        if not token:
            return
        if token in seen:
            raise RuntimeError(f"{items_key}: page token repeated, stopping")
        seen.add(token)


__all__ = ["paginate"]
