"""``EmulatorAdmin``: a thin httpx client over the emulator's ``/_emulator`` admin API."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx


class EmulatorAdminError(RuntimeError):
    """The admin API refused a request; ``status`` and ``body`` say why."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"emulator admin API answered {status}: {body}")
        self.status = status
        self.body = body


class EmulatorAdmin:
    """Seed data, submit form responses, read sent mail, inject faults, move the clock, read stats."""

    def __init__(self, base_url: str, ca_path: Path | str | None = None, timeout: float = 300.0) -> None:
        # A safety net only: reading thousands of sent messages on a loaded 2-core machine took over 30 s, and
        # a drill must not fail because the machine was busy (nothing here is a timing measurement).
        self.base_url = base_url.rstrip("/")
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_path)) if ca_path else True
        self._client = httpx.Client(base_url=self.base_url + "/_emulator", verify=verify, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EmulatorAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._client.request(method, path, **kwargs)
        try:
            body = resp.json()
        except ValueError:
            body = resp.text
        if resp.status_code >= 400:
            raise EmulatorAdminError(resp.status_code, body)
        return body

    # -- data ---------------------------------------------------------------------------------------------

    def seed(
        self,
        directory: dict[str, Any] | None = None,
        spreadsheets: list[dict[str, Any]] | None = None,
        drive_files: list[dict[str, Any]] | None = None,
        google_accounts: list[str] | None = None,
    ) -> dict[str, int]:
        """Add directory users/orgunits, spreadsheets and Drive files (with ``owner``/``permissions``/``apps``)
        and outside addresses that have a Google account; returns totals held."""
        body: dict[str, Any] = {}
        if google_accounts is not None:
            body["google_accounts"] = google_accounts
        if directory is not None:
            body["directory"] = directory
        if spreadsheets is not None:
            body["spreadsheets"] = spreadsheets
        if drive_files is not None:
            body["drive_files"] = drive_files
        return self._call("POST", "/seed", json=body)

    def domain_policy(self, **changes: Any) -> dict[str, Any]:
        """Read or change Admin-console settings: ``delegation`` ({client_id: [scopes]} or None for all),
        ``external_sharing`` (Drive sharing outside the domain), ``refuse_unknown_subjects``."""
        if changes:
            return self._call("POST", "/domain_policy", json=changes)
        return self._call("GET", "/domain_policy")

    def seed_dir(self, path: Path | str) -> dict[str, int]:
        """Seed from a sample district folder (directory/users.json, directory/orgunits.json, sheets/*.json)."""
        return self._call("POST", "/seed_dir", json={"path": str(Path(path).resolve())})

    def submit_form_response(
        self,
        form_id: str | None,
        answers: dict[str, str | list[str]] | None = None,
        respondent_email: str | None = None,
        signed_in: bool = False,
        timestamp: datetime | str | None = None,
        prefilled_url: str | None = None,
    ) -> dict[str, Any]:
        """A person submits the form; raises EmulatorAdminError (403/400) when Google Forms would refuse.

        ``answers`` are keyed by questionId or ``entry.N``; ``prefilled_url`` (a pre-filled responder link, e.g.
        from a sent email) adds its ``entry.N`` values and, with ``form_id=None``, identifies the form.
        """
        body: dict[str, Any] = {"respondent_email": respondent_email, "answers": answers or {}, "signed_in": signed_in}
        if timestamp is not None:
            body["timestamp"] = timestamp.isoformat() if isinstance(timestamp, datetime) else timestamp
        if prefilled_url is not None:
            body["prefilled_url"] = prefilled_url
        path = f"/forms/{form_id}/responses" if form_id else "/forms/responses"
        return self._call("POST", path, json=body)

    def form(self, form_id: str) -> dict[str, Any]:
        """The stored form plus ``prefill`` (questionId -> "entry.N") and the response count."""
        return self._call("GET", f"/forms/{form_id}")

    def mail(self, sender: str | None = None, since: datetime | str | None = None) -> list[dict[str, Any]]:
        """Sent messages decoded (id, threadId, sender, to, cc, subject, headers, text, html, attachments...)."""
        params: dict[str, str] = {}
        if sender:
            params["sender"] = sender
        if since is not None:
            params["since"] = since.isoformat() if isinstance(since, datetime) else since
        return self._call("GET", "/mail", params=params)

    def sender_counts(self) -> dict[str, dict[str, Any]]:
        """Per sender, the emulator's own count: sends attempted and sent, their peaks in any minute and any
        24 hours, sends per calendar minute, refusals by the limit hit (``Gmail.sending_counts``)."""
        return self._call("GET", "/mail/senders")

    def mailbox(self, user: str) -> list[dict[str, Any]]:
        """Everything in one mailbox (sent messages and bounces), decoded."""
        return self._call("GET", f"/mailbox/{user}")

    def bounce(self, message_id: str, reason: str | None = None) -> dict[str, Any]:
        """Make a DSN for a sent message (Gmail id or Message-ID) arrive in the sender's inbox."""
        body = {"message_id": message_id}
        if reason:
            body["reason"] = reason
        return self._call("POST", "/mail/bounce", json=body)

    def drive_notifications(self) -> list[dict[str, Any]]:
        return self._call("GET", "/drive/notifications")

    # -- behaviour ----------------------------------------------------------------------------------------

    def set_faults(
        self,
        method: str = "*",
        error_rate: float = 0.0,
        statuses: list[int] | None = None,
        latency_ms: int = 0,
        timeout_rate: float = 0.0,
        hang_ms: int | None = None,
        count: int | None = None,
        hold: bool = False,
        reason: str | None = None,
    ) -> dict[str, int]:
        """Add a fault rule (deterministic for the emulator's fault_seed); rules add up until clear_faults."""
        body: dict[str, Any] = {
            "method": method,
            "error_rate": error_rate,
            "latency_ms": latency_ms,
            "timeout_rate": timeout_rate,
        }
        if statuses is not None:
            body["statuses"] = statuses
        if hang_ms is not None:
            body["hang_ms"] = hang_ms
        if count is not None:
            body["count"] = count
        if hold:
            body["hold"] = True
        if reason is not None:
            body["reason"] = reason
        return self._call("POST", "/faults", json=body)

    def release_held(self) -> int:
        """Let calls parked by a ``hold`` fault go on; returns how many were parked."""
        return int(self._call("POST", "/faults/release")["released"])

    def wait_for(self, condition: Callable[[dict[str, Any]], bool], timeout: float = 120.0) -> dict[str, Any]:
        """Poll the stats until ``condition(stats)`` holds: drills wait on the emulator's state, not on time.

        The timeout is a safety net for a broken drill, not part of what it measures.
        """
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if condition(stats):
                return stats
            if time.monotonic() > deadline:
                raise TimeoutError(f"emulator never reached the awaited state: {stats.get('in_flight')} in flight, "
                                   f"{stats.get('held')} held")
            time.sleep(0.02)

    def wait_idle(self, timeout: float = 120.0) -> dict[str, Any]:
        """Until no API request is being handled (a killed client's batch has been worked through)."""
        return self.wait_for(lambda s: s["in_flight"] == 0 and s["held"] == 0, timeout)

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def limits(self) -> dict[str, Any]:
        return self._call("GET", "/limits")

    def set_limits(self, **limits: Any) -> dict[str, Any]:
        """Change some limits (names of EmulatorLimits fields); returns the full set."""
        return self._call("POST", "/limits", json=limits)

    def now(self) -> str:
        return self._call("GET", "/clock")["now"]

    def set_clock(self, now: datetime | str) -> str:
        value = now.isoformat() if isinstance(now, datetime) else now
        return self._call("POST", "/clock", json={"now": value})["now"]

    def advance_clock(self, seconds: float) -> str:
        return self._call("POST", "/clock", json={"advance_seconds": seconds})["now"]

    def api_key(self, project: str = "district-project") -> str:
        """An API key of ``project`` (the emulator issues one per project; it reads public YouTube/Blogger)."""
        return str(self._call("GET", "/api_key", params={"project": project})["key"])

    def put_video(self, channel_id: str, video: dict[str, Any]) -> dict[str, Any]:
        """Upload or edit a video of a seeded channel (fields as in ``youtube/channels.json``)."""
        return self._call("POST", "/youtube/videos", json={"channel_id": channel_id, "video": video})

    def delete_video(self, channel_id: str, video_id: str) -> bool:
        return bool(self._call("POST", "/youtube/videos", json={"channel_id": channel_id, "video_id": video_id,
                                                                 "delete": True})["deleted"])

    def put_post(self, blog_id: str, post: dict[str, Any]) -> dict[str, Any]:
        """Publish or edit a post of a seeded blog (an edit without ``updated`` is stamped now)."""
        return self._call("POST", "/blogger/posts", json={"blog_id": blog_id, "post": post})

    def delete_post(self, blog_id: str, post_id: str) -> bool:
        return bool(self._call("POST", "/blogger/posts", json={"blog_id": blog_id, "post_id": post_id,
                                                                "delete": True})["deleted"])

    def stats(self) -> dict[str, Any]:
        """Calls per method id, per-user sent counts, batches, tokens issued, clock."""
        return self._call("GET", "/stats")

    def reset(self) -> None:
        """Drop all data, counters, faults and the clock offset (issued keys keep working)."""
        self._call("POST", "/reset")
