"""The one settings object: environment variables over the district profile (TOML) over defaults.

The district profile (``data/district.toml`` by default, ``DC_PROFILE`` to change it) holds what belongs to the
district: its name, time zone, sites, sender mailboxes, recipients and reminder cadence. The environment holds what
belongs to the machine: database URL, Google endpoints and credentials, output folders. Nested values use ``__``
in environment names (``DC_GOOGLE__EMULATOR_URL``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, BaseModel, EmailStr, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from compliance.errors import ConfigurationError
from compliance.vocabulary import CaseCategory, SiteAuditPlacement

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROFILE = PROJECT_ROOT / "data" / "district.toml"

# The secret the sample district and the tests run with. It is in this public source, so anyone who knows a
# person's email could compute their personal code with it: production refuses to run with it.
DEMO_TOKEN_SECRET = "change-me-in-production-this-is-the-demo-secret"

SiteKind = Literal["elementary", "middle", "high", "k8", "adult", "office", "other"]
# What a parent's photo consent can cover (AR 1114 rule 1); compliance.consent.PURPOSES is this tuple.
ConsentPurpose = Literal["website", "social_media", "yearbook", "press", "video"]
CONSENT_PURPOSES: tuple[str, ...] = get_args(ConsentPurpose)
DEFAULT_SCHOOL_YEAR_START = "07-01"  # California's school year (Education Code 37200) starts July 1


def check_month_day(value: str) -> str:
    """'MM-DD' naming a real day of a (leap) year, e.g. '07-01'; raises ValueError otherwise."""
    try:
        month, day = (int(x) for x in value.split("-"))
        date(2024, month, day)
    except ValueError:
        raise ValueError(f"{value!r} is not a month-day in MM-DD form (e.g. 07-01)") from None
    return value


class ProfileError(ConfigurationError):
    """The district profile or environment is invalid; the message names the key and is meant for people."""


_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
# A social_exports entry naming a Drive folder: "drive:" and the folder id from its address (drive/folders/<id>).
DRIVE_PREFIX = "drive:"
_DRIVE_ID = re.compile(r"[A-Za-z0-9_-]{10,100}")


class Site(BaseModel):
    """A school or office: the unit that owns people, pages and escalations."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str
    kind: SiteKind = "elementary"
    org_unit: str = Field(description="Admin Directory orgUnitPath whose users belong to this site")
    web_roots: list[str] = Field(default_factory=list)
    # Image hosts the site's pages hot-link photos from (a CDN, Google Drive, wp.com): their photos are fetched
    # under the same politeness and size limits; any other host's images are refused as off-site.
    asset_hosts: list[str] = Field(default_factory=list)
    site_admin: EmailStr
    web_contact: EmailStr
    # Input locations: a path relative to the profile's folder, or "sheets:<spreadsheetId>" for a Google Sheet.
    associated_sources: list[str] = Field(default_factory=list)
    consent_sources: list[str] = Field(default_factory=list)
    # FERPA directory-information opt-out lists: read as opt-outs whatever their headers say.
    opt_out_sources: list[str] = Field(default_factory=list)
    # Purposes a consent form grants when it names none, per source ("*": every source of the site); a source
    # not named here grants nothing from such a form (the row is quarantined as ambiguous, consent rule 7).
    default_purposes: dict[str, list[ConsentPurpose]] = Field(default_factory=dict)
    # District-sponsored social media (AR 1114 II.3): the site's YouTube channels (channel ids "UC..."), its
    # Blogger blogs (blog addresses or numeric ids) and the folders the communications office drops platform
    # exports in (Facebook/Instagram "Download your information" JSON, X archive; relative to the profile).
    # An entry is a channel id, or a table ``{id = "UC...", owner = "media@school.org"}`` for a channel the school
    # owns: its owner's mailbox lands in ``youtube_owners`` and the channel is read as that owner (delegated,
    # youtube.readonly), unlisted and private videos included. ``social_exports`` entries are folders relative
    # to the profile or ``drive:<folder id>`` (a Drive folder shared with the admin subject).
    youtube_channels: list[str] = Field(default_factory=list)
    youtube_owners: dict[str, EmailStr] = Field(default_factory=dict)
    blogs: list[str] = Field(default_factory=list)
    social_exports: list[str] = Field(default_factory=list)
    # The consent purpose each channel is judged against: videos need "video" consent unless the district
    # treats its channel as part of its website; class blogs are school web pages; Facebook, Instagram and X
    # posts are social media.
    youtube_purpose: ConsentPurpose = "video"
    blog_purpose: ConsentPurpose = "website"
    social_export_purpose: ConsentPurpose = "social_media"

    @model_validator(mode="before")
    @classmethod
    def _channel_owners(cls, data: Any) -> Any:
        # ``{id, owner}`` tables are split into the id list and ``youtube_owners`` so every reader of
        # ``youtube_channels`` keeps seeing channel ids; the owner decides how the channel is read.
        if not isinstance(data, dict) or not isinstance(data.get("youtube_channels"), list):
            return data
        ids: list[Any] = []
        owners = dict(data.get("youtube_owners") or {})
        for entry in data["youtube_channels"]:
            if isinstance(entry, dict):
                extra = sorted(set(entry) - {"id", "owner"})
                if extra or "id" not in entry:
                    raise ValueError(
                        "youtube_channels entries are channel ids or tables {id = \"UC...\", owner = \"mailbox\"}"
                        + (f", not keys {', '.join(extra)}" if extra else "")
                    )
                ids.append(entry["id"])
                if entry.get("owner"):
                    owners[str(entry["id"]).strip()] = entry["owner"]
            else:
                ids.append(entry)
        return {**data, "youtube_channels": ids, "youtube_owners": owners}

    @model_validator(mode="after")
    def _owners_name_channels(self) -> Site:
        unknown = sorted(set(self.youtube_owners) - set(self.youtube_channels))
        if unknown:
            raise ValueError(f"youtube_owners names channels that are not youtube_channels of site {self.id}: "
                             f"{', '.join(unknown)}")
        return self

    def youtube_owner(self, channel_id: str) -> str | None:
        """The mailbox that owns ``channel_id`` (read as that owner), or None: public data with the API key."""
        owner = self.youtube_owners.get(channel_id)
        return str(owner).lower() if owner else None

    def drive_export_folders(self) -> list[str]:
        """Drive folder ids of the site's ``drive:<folder id>`` export entries."""
        return [e.split(":", 1)[1].strip() for e in self.social_exports if e.startswith(DRIVE_PREFIX)]

    @field_validator("social_exports")
    @classmethod
    def _export_entries(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if v.startswith(DRIVE_PREFIX) and not _DRIVE_ID.fullmatch(v.split(":", 1)[1].strip())]
        if bad:
            raise ValueError(f"social_exports: {bad[0]!r} is not drive:<folder id> (the id from the folder's address)")
        return [v.strip() for v in value]

    @field_validator("youtube_channels")
    @classmethod
    def _channel_ids(cls, value: list[str]) -> list[str]:
        # A handle or an address would resolve to nothing and audit nothing: only channel ids are accepted.
        bad = [v for v in value if not re.fullmatch(r"UC[A-Za-z0-9_-]{22}", v.strip())]
        if bad:
            raise ValueError(f"youtube_channels must be channel ids (UC + 22 characters), not {bad[0]!r}")
        return [v.strip() for v in value]

    @model_validator(mode="after")
    def _default_purposes_name_sources(self) -> Site:
        unknown = sorted(k for k in self.default_purposes if k != "*" and k not in self.consent_sources)
        if unknown:
            raise ValueError(
                f"default_purposes names sources that are not consent_sources of site {self.id}: {', '.join(unknown)}"
            )
        return self

    def default_purposes_for(self, source: str) -> list[str]:
        """The purposes a form of ``source`` that names none grants (empty: none, the row is quarantined)."""
        return list(self.default_purposes.get(source, self.default_purposes.get("*", [])))

    @field_validator("asset_hosts")
    @classmethod
    def _bare_hosts(cls, value: list[str]) -> list[str]:
        # A host name only: a scheme or path would never equal a URL's host and silently allow nothing.
        hosts = [h.strip().lower().rstrip(".") for h in value]
        bad = [h for h in hosts if not _HOST_NAME.fullmatch(h)]
        if bad:
            raise ValueError(f"asset_hosts must be host names (like cdn.example.org), not {bad[0]!r}")
        return hosts


class District(BaseModel):
    name: str
    short_name: str = "district"
    time_zone: str = "America/Los_Angeles"
    domain: str = Field(description="The Google Workspace primary domain, e.g. standard-sd.org")
    customer: str = "my_customer"
    school_year_start: str = Field(
        DEFAULT_SCHOOL_YEAR_START, pattern=r"^\d\d-\d\d$", description="MM-DD a school year starts (consent rule 2)"
    )

    @field_validator("school_year_start")
    @classmethod
    def _real_day(cls, value: str) -> str:
        return check_month_day(value)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class Reminders(BaseModel):
    """Cadence in days after the announcement went out."""

    reminder_days: list[int] = Field(default_factory=lambda: [7, 14])
    site_admin_digest_days: int = 21
    superintendent_days: int = 28
    takedown_reminder_days: int = 3
    # While anyone at a site is overdue its administrator gets a digest this often; the superintendent gets
    # the people newly past ``superintendent_days`` at most this often (joiners cross the line all year).
    site_digest_every_days: int = Field(7, ge=1)
    superintendent_every_days: int = Field(7, ge=1)
    # Longer lists go as an attached workbook, with a short summary and one request in the message.
    inline_list_max: int = Field(25, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Reminders:
        if sorted(self.reminder_days) != self.reminder_days or any(d <= 0 for d in self.reminder_days):
            raise ValueError("reminder_days must be positive and ascending")
        if self.reminder_days and self.site_admin_digest_days <= self.reminder_days[-1]:
            raise ValueError("site_admin_digest_days must come after the last reminder")
        if self.superintendent_days < self.site_admin_digest_days:
            raise ValueError("superintendent_days must not come before site_admin_digest_days")
        return self


class Quotas(BaseModel):
    """Google's published limits; keep them here so a district on an older project can raise them.

    ``edition`` (paid, or trial: 500 messages a day) and ``project_quota`` (Cloud projects made from 2026-05 get
    6,000 Gmail units a minute per user, older ones 15,000) are what ``district-compliance preflight`` checks
    the figures against.
    """

    edition: Literal["paid", "trial"] = "paid"
    project_quota: Literal["new", "legacy"] = "new"

    gmail_daily_per_sender: int = 2000
    gmail_sends_per_minute: int = 60
    gmail_recipients_per_message: int = 100  # To + Cc + Bcc together
    gmail_recipients_per_day: int = 10_000  # per sender, rolling 24 h, every recipient of every message
    gmail_unique_recipients_per_day: int = 3_000  # per sender, rolling 24 h, distinct addresses
    gmail_batch_size: int = Field(50, le=100)
    forms_expensive_reads_per_minute: int = 180
    sheets_reads_per_minute: int = 60
    directory_page_size: int = Field(500, ge=1, le=500)
    # YouTube Data API: 10,000 units a day per Cloud project by default (list calls cost 1 unit); the nightly
    # stops a channel's audit (held, tried again the next night) rather than spend past this.
    youtube_daily_units: int = Field(10_000, ge=0)


class GoogleSettings(BaseModel):
    """Where Google calls go and with which identity.

    ``emulator_url`` set (``https://127.0.0.1:PORT``) sends every API to the local Workspace emulator and trusts
    ``ca_bundle``; unset, calls go to Google with the service account and domain-wide delegation.
    """

    emulator_url: str | None = None
    ca_bundle: Path | None = None
    service_account_file: Path | None = None
    service_account_json: str | None = Field(None, repr=False)
    service_account_secret_block: str | None = None
    admin_subject: str | None = Field(None, description="Directory admin the service account acts as")
    # API key of the Cloud project (APIs & Services > Credentials), restricted to the YouTube Data and Blogger
    # APIs: public channels and blogs are read with it, not with a delegated identity.
    api_key: str | None = Field(None, repr=False)
    num_retries: int = 5
    timeout_seconds: float = 60.0


class OutboxSettings(BaseModel):
    """How the outbox treats sends that did not plainly succeed.

    ``in_flight_grace_seconds`` is the bound this pipeline assumes on how long Google may still act on a send
    request after its client gave up (a timeout, a killed process). Google documents no such bound, so it
    is generous and configurable: a send whose outcome is unknown stays ``sending`` and is looked up in the
    sender's mailbox; it is requeued only when it is still absent after this long. Transient failures (5xx,
    rate limits that outlasted the retries) are tried again after ``retry_after_seconds``, doubling, and fail
    for good after ``max_attempts``. A run waits at most ``settle_wait_seconds`` for in-flight rows to
    settle; longer ones are left to the next run.
    """

    in_flight_grace_seconds: float = Field(600.0, ge=0)
    retry_after_seconds: float = Field(300.0, ge=0)
    max_attempts: int = Field(6, ge=1)
    settle_wait_seconds: float = Field(60.0, ge=0)


class ScaleOut(BaseModel):
    """Where the nightly's per-site work runs (README, "Scale-out: several workers").

    ``site_audits = "in-run"`` (default): the sites are crawled by the nightly's own flow run, a task per share of
    sites. ``"workers"``: the nightly starts one ``site-audit`` flow run per ``sites_per_audit`` sites (sites on
    one web host always in the same run, for that host's politeness) through the work pool, so every
    worker of the pool, on any machine, takes a share; it needs the deployments applied (``prefect deploy``)
    and a store every worker reaches (PostgreSQL). The nightly looks at its site-audit runs every
    ``poll_seconds`` until they have all ended.
    """

    site_audits: SiteAuditPlacement = SiteAuditPlacement.IN_RUN
    sites_per_audit: int = Field(25, ge=1)
    poll_seconds: float = Field(2.0, gt=0)


class Inputs(BaseModel):
    """When an input source is taken as the whole truth (compliance.sources).

    A source (the SIS export, a school's Associated Persons list, the Directory) whose read has fewer records
    than ``max_shrink_share`` below its last good read is held: its records keep their last known state until a
    read within the share comes back, or somebody who knows accepts the smaller source
    (``compliance.sources.accept_source``; no command for it yet). Empty, header-only and unreadable sources
    are always held.
    """

    max_shrink_share: float = Field(0.20, ge=0.0, le=1.0)


class LedgerSettings(BaseModel):
    """Where the event chain's head is anchored outside the database, and the district's signing keys.

    ``public_keys`` (key id -> base64 raw Ed25519 public key) lives in the profile so anyone holding it can
    check a signed anchor; ``signing_key_path`` (a PEM private key) lives only on the machine that runs the
    nightly. Rotation: add the new public key, point ``signing_key_path``/``signing_key_id`` at the new key,
    keep the old public key listed so older anchors still verify (README, "Ledger keys").
    """

    anchor_drive_folder_id: str | None = Field(None, description="Drive folder the anchor files are kept in")
    signing_key_path: Path | None = None
    signing_key_id: str | None = None
    public_keys: dict[str, str] = Field(default_factory=dict)


class AgencyRoute(BaseModel):
    """Where an urgent category of case is reported outside the district (AR 1114 III.A.3), and how soon."""

    agency: str
    contact: str = ""
    phone: str = ""
    send: str = Field("", description="What to give the agency, in the district's words")
    deadline_hours: int = Field(24, ge=1, le=24 * 14)


class IncidentSettings(BaseModel):
    """Incident and complaint cases (compliance.incidents): routing, reporting lines and the follow-up cadence.

    ``reporting_lines`` maps an administrator's address to their supervisor's: a complaint against the
    administrator goes to the supervisor (AR 1114 IV), or to ``default_supervisor`` when the line is unknown.
    ``agencies`` maps a case category (compliance.vocabulary.CaseCategory) to its outside agency.
    ``page`` are the district office contacts paged at once for an urgent category; ``designee`` is the
    superintendent's designee who hears of a case with no action for ``stale_days``. Overdue steps are
    reminded to the owner every ``reminder_every_days``.
    """

    designee: EmailStr | None = None
    default_supervisor: EmailStr | None = None
    page: list[EmailStr] = Field(default_factory=list)
    reporting_lines: dict[str, EmailStr] = Field(default_factory=dict)
    agencies: dict[str, AgencyRoute] = Field(default_factory=dict)
    stale_days: int = Field(10, ge=1)
    reminder_every_days: int = Field(3, ge=1)
    # Longest answer kept from the form; the rest is cut with a note (a hostile 1 MB answer stays bounded).
    max_answer_chars: int = Field(10_000, ge=100, le=100_000)

    @field_validator("reporting_lines")
    @classmethod
    def _lower_keys(cls, value: dict[str, str]) -> dict[str, str]:
        return {k.strip().lower(): v for k, v in value.items()}

    @field_validator("agencies")
    @classmethod
    def _known_categories(cls, value: dict[str, AgencyRoute]) -> dict[str, AgencyRoute]:
        unknown = sorted(k for k in value if k not in set(CaseCategory))
        if unknown:
            known = ", ".join(CaseCategory)
            raise ValueError(f"agencies names unknown case categories {', '.join(unknown)} (known: {known})")
        return value


class Crawl(BaseModel):
    allow_loopback: bool = False
    allow_private: bool = False
    per_host_concurrency: int = 4
    per_host_delay_seconds: float = 0.0
    # Sites one crawl task crawls at once (each on its own host, or sharing one host's allowance).
    concurrent_sites: int = Field(8, ge=1)
    max_pages_per_site: int = 2000
    max_bytes_per_response: int = 15_000_000
    max_seconds_per_site: float = 600.0
    max_image_pixels: int = 40_000_000
    # An image the server declared fresh (Cache-Control max-age / Expires) and referenced by an unchanged page
    # is not asked for again until then, at most this long; True asks again every crawl anyway.
    max_image_freshness_seconds: int = 604_800
    revalidate_fresh_images: bool = False
    # A sitemap index can name thousands of sitemaps; past this many (or a quarter of the site's time) the
    # rest are left for links and known pages to find, and the crawl counts as incomplete.
    max_sitemaps_per_site: int = 50
    # Evidence extraction of one page, in a worker thread: a page that takes longer is recorded as an error.
    max_parse_seconds_per_page: float = 10.0
    user_agent: str = "district-compliance-crawler/0.1 (+AR1114 photo consent audit)"


class Settings(BaseSettings):
    """Everything configurable, validated once at start."""

    model_config = SettingsConfigDict(
        env_prefix="DC_", env_nested_delimiter="__", extra="ignore", populate_by_name=True
    )

    district: District
    sites: list[Site] = Field(min_length=1)
    senders: list[EmailStr] = Field(min_length=1, description="Delegated mailboxes campaigns send from")
    superintendent_recipients: list[EmailStr] = Field(min_length=1)
    report_share_with: list[EmailStr] = Field(default_factory=list)
    report_drive_folder_id: str | None = Field(None, description="Drive folder the weekly workbooks are kept in")
    reminders: Reminders = Field(default_factory=Reminders)
    quotas: Quotas = Field(default_factory=Quotas)
    google: GoogleSettings = Field(default_factory=GoogleSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    crawl: Crawl = Field(default_factory=Crawl)
    inputs: Inputs = Field(default_factory=Inputs)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)
    scale_out: ScaleOut = Field(default_factory=ScaleOut)
    sis_export: str | None = Field(None, description="SIS student export CSV, relative to the profile folder")
    sis_alumni_export: str | None = Field(
        None,
        description="SIS export of former students now adults (same columns as sis_export): their names on a "
        "channel or in a post are not a student's, and they are read as distractors",
    )
    paper_acknowledgements: str | None = None
    policy_document: str | None = Field(None, description="Policy text uploaded to Drive on first run (demo)")
    policy_drive_file_id: str | None = Field(None, description="Drive file holding the policy, once it exists")
    policy_translations: dict[Literal["es"], str] = Field(
        default_factory=dict,
        description="The policy in other languages (HTML, relative to the profile), e.g. {es = \"policy/x.es.html\"}: "
        "uploaded beside the English Doc; Spanish readers are linked to it, others read the English text",
    )
    renew_each_school_year: bool = Field(
        True, description="Everyone acknowledges again each school year (a new version opens on school_year_start)"
    )
    sites_base_url: str = Field(
        "https://www.example.org", description="Replaces {sites_base_url} in site web roots (demo and tests)"
    )
    sites_base_urls: dict[str, str] = Field(
        default_factory=dict,
        description="Per site id, replaces {sites_base_url} in that site's web roots: a local web with a host "
        "of its own for each school (the LAUSD-scale benchmark)",
    )

    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{PROJECT_ROOT / 'var' / 'compliance.db'}",
        validation_alias=AliasChoices("DATABASE_URL", "DC_DATABASE_URL"),
    )
    out_dir: Path = PROJECT_ROOT / "out"
    var_dir: Path = PROJECT_ROOT / "var"
    environment: Literal["production", "demo", "test"] = Field(
        "production",
        description="demo and test (the sample district, the test suite) may run with the public demo token "
        "secret; production refuses to (DC_ENVIRONMENT)",
    )
    token_secret: str = Field(
        DEMO_TOKEN_SECRET,
        min_length=16,
        repr=False,
        description="HMAC key for community acknowledgement tokens (DC_TOKEN_SECRET): long and random",
    )
    token_key_id: str = Field(
        "",
        pattern=r"^[a-z0-9]{0,8}$",
        description="Id of the current token key, written into new codes (empty: the original key). Give the "
        "new key a new id when rotating, and move the old secret to token_retired_keys",
    )
    token_retired_keys: dict[str, str] = Field(
        default_factory=dict,
        repr=False,
        description="Retired token secrets by key id ('' for the original key): they only recognise codes "
        "already sent, never issue new ones (DC_TOKEN_RETIRED_KEYS as JSON)",
    )
    profile_path: Path = Field(
        default_factory=lambda: Path(os.environ.get("DC_PROFILE") or DEFAULT_PROFILE),
        validation_alias=AliasChoices("DC_PROFILE", "profile_path"),
    )

    def secret_problems(self) -> list[str]:
        """Why these settings must not run for real: the public demo token secret outside demo and test."""
        if self.environment in ("demo", "test"):
            return []
        problems = []
        if self.token_secret == DEMO_TOKEN_SECRET:
            problems.append(
                "DC_TOKEN_SECRET is the public demo secret: anyone who knows a person's email could compute their "
                "personal acknowledgement code. Set DC_TOKEN_SECRET to a long random value (python -c \"import "
                "secrets; print(secrets.token_urlsafe(32))\"), or DC_ENVIRONMENT=demo for the sample district"
            )
        return problems

    def require_safe_secrets(self) -> None:
        """Raise :class:`ProfileError` (one clear message) when :meth:`secret_problems` finds any."""
        problems = self.secret_problems()
        if problems:
            raise ProfileError(f"refusing to run in environment {self.environment!r}: " + "; ".join(problems))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.district.time_zone)

    def site(self, site_id: str) -> Site:
        for site in self.sites:
            if site.id == site_id:
                return site
        raise KeyError(site_id)

    @property
    def data_dir(self) -> Path:
        """Folder that relative input paths in the profile are read from: the profile's own folder."""
        return self.profile_path.resolve().parent

    def input_path(self, source: str) -> Path:
        """Resolve a profile input path (not a ``sheets:`` reference) against the profile folder."""
        path = Path(source)
        return path if path.is_absolute() else self.data_dir / path

    def site_roots(self, site: Site) -> list[str]:
        base = self.sites_base_urls.get(site.id, self.sites_base_url).rstrip("/")
        return [root.replace("{sites_base_url}", base) for root in site.web_roots]

    @model_validator(mode="after")
    def _token_keys(self) -> Settings:
        # Key ids go into tokens, which split on "."; the current key must not also be a retired one.
        bad = [k for k in self.token_retired_keys if not re.match(r"^[a-z0-9]{0,8}$", k)]
        if bad:
            raise ValueError(f"token_retired_keys: key ids are up to 8 lowercase letters and digits, not {bad[0]!r}")
        if self.token_key_id in self.token_retired_keys:
            raise ValueError(f"token_key_id {self.token_key_id!r} is also in token_retired_keys")
        return self

    @model_validator(mode="after")
    def _unique_sites(self) -> Settings:
        ids = [s.id for s in self.sites]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"site ids must be unique, repeated: {', '.join(dupes)}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, ProfileSource(settings_cls))


class ProfileSource(PydanticBaseSettingsSource):
    """Reads the district profile TOML named by DC_PROFILE (or the default) as the lowest-priority source."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = Path(os.environ.get("DC_PROFILE") or DEFAULT_PROFILE)
        if not path.exists():
            raise ProfileError(f"{path}: district profile not found (set DC_PROFILE to its path)")
        try:
            with path.open("rb") as fh:
                return tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ProfileError(f"{path}: not valid TOML: {exc}") from exc


def _describe(exc: ValidationError, path: Path) -> str:
    lines = [f"{path}: invalid district settings"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {key}: {err['msg']}")
    return "\n".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Build settings or raise ProfileError with one readable message naming each bad key."""
    path = Path(os.environ.get("DC_PROFILE") or DEFAULT_PROFILE)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ProfileError(_describe(exc, path)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings; whoever changes the environment calls ``reset_settings()`` afterwards."""
    return load_settings()


# Caches built from the settings (the task layer's store and Google clients) register here, so code that changes
# the environment (the local district, tests) can drop them without knowing who holds them.
_reset_hooks: list[Callable[[], None]] = []


def on_settings_reset(hook: Callable[[], None]) -> Callable[[], None]:
    """Have ``hook`` run by every ``reset_settings()``; returns it (usable as a decorator)."""
    if hook not in _reset_hooks:
        _reset_hooks.append(hook)
    return hook


def reset_settings() -> None:
    """Forget the cached settings and everything registered as built from them (after the environment changed)."""
    get_settings.cache_clear()
    for hook in _reset_hooks:
        hook()
