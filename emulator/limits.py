"""Quota figures the emulator enforces; defaults are Google's documented numbers (see google-workspace-notes)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class EmulatorLimits(BaseModel):
    """Limits answered with Google's statuses and reasons; change them at run time with ``POST /_emulator/limits``.

    ``gmail_daily_style`` picks how the per-sender daily message cap answers: ``dailyLimitExceeded`` (403, the
    API's daily-limit error) or ``mailSendingLimit`` (429 "User-rate limit exceeded. Retry after <time>", what
    Gmail answers when a mailbox goes over its sending limit) or ``lateBounce`` (the send is accepted and a 5.4.5
"You have reached a limit for sending mail" DSN arrives in the sender's inbox instead, which Gmail also does).
Otherwise the recipient caps answer the 429 form.
    """

    gmail_daily_per_sender: int = Field(2000, ge=0)
    gmail_daily_style: Literal["dailyLimitExceeded", "mailSendingLimit", "lateBounce"] = "dailyLimitExceeded"
    gmail_daily_recipients_per_sender: int = Field(10_000, ge=0)
    gmail_daily_unique_recipients_per_sender: int = Field(3_000, ge=0)
    gmail_recipients_per_message: int = Field(100, ge=1)
    gmail_sends_per_minute: int = Field(60, ge=0)
    gmail_max_message_bytes: int = Field(35 * 1024 * 1024, ge=1)
    # Gmail is reported to replace the client's Message-ID on API sends (not documented either way): in this
    # mode the emulator does, so crash recovery and bounce matching are proved not to depend on it.
    gmail_rewrite_message_id: bool = False
    batch_max_parts: int = Field(100, ge=1)
    forms_expensive_reads_per_minute: int = Field(180, ge=0)
    forms_reads_per_minute: int = Field(390, ge=0)
    forms_writes_per_minute: int = Field(150, ge=0)
    sheets_reads_per_minute: int = Field(60, ge=0)
    directory_queries_per_minute: int = Field(2400, ge=0)
    drive_queries_per_minute: int = Field(12_000, ge=0)
    forms_max_page_size: int = Field(5000, ge=1)
    # YouTube Data API: 10,000 units a day per project (list calls 1 unit), reset at midnight Pacific time.
    youtube_daily_units: int = Field(10_000, ge=0)
    # Blogger API: requests a day per project (each call 1); the Cloud console shows the project's figure.
    blogger_daily_requests: int = Field(10_000, ge=0)
