"""Shared state of one generation run: seeded randomness, scale, sites and what the truth files collect."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faker import Faker

from compliance.sample.names import NamePools

AS_OF = dt.date(2026, 11, 20)  # the truth date: school year 2026-27, which started 2026-08-01
YEAR_START = dt.date(2026, 8, 1)
LAST_YEAR_START = dt.date(2025, 8, 1)


@dataclass(frozen=True)
class ScaleConfig:
    name: str
    schools: int | None  # None: the schools of data/district.toml
    employees_per_school: int
    office_employees: int
    associated_per_school: int
    office_associated: int
    students_per_school: int
    website_schools: int | None  # None: every school has a website
    captions: int  # total caption records in truth/captions.jsonl
    # Photo pages per website (news recaps, galleries): about 50 photos a site at (5, 2), about 100 at (10, 5).
    photo_pages: tuple[int, int] = (5, 2)
    # Photos drawn at full size on a shared grain (~4x faster to write): what 100,000 photos need to be
    # generated in minutes. The standard sample keeps its original pictures.
    fast_photos: bool = False


SCALES: dict[str, ScaleConfig] = {
    "standard": ScaleConfig("standard", None, 50, 50, 70, 50, 600, None, 2000),
    # Every school has a website of about 100 photos: ~100,000 photos on 999 sites, the nightly's LAUSD night.
    "lausd": ScaleConfig("lausd", 999, 75, 75, 100, 100, 420, None, 100_000, photo_pages=(10, 5), fast_photos=True),
}


@dataclass
class SiteInfo:
    id: str
    name: str
    short: str
    kind: str
    org_unit: str
    site_admin: str
    web_contact: str
    has_website: bool
    assoc_layout: str = ""
    consent_layout: str = ""
    associated_sources: list[str] = field(default_factory=list)
    consent_sources: list[str] = field(default_factory=list)
    opt_out_sources: list[str] = field(default_factory=list)
    default_purposes: dict[str, list[str]] = field(default_factory=dict)
    social: dict[str, list[str]] = field(default_factory=dict)  # youtube_channels, blogs, social_exports

    @property
    def is_school(self) -> bool:
        return self.kind != "office"

    def profile_entry(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "org_unit": self.org_unit,
            "web_roots": [f"{{sites_base_url}}/{self.id}/"] if self.has_website else [],
            "site_admin": self.site_admin,
            "web_contact": self.web_contact,
            "associated_sources": self.associated_sources,
            "consent_sources": self.consent_sources,
            "opt_out_sources": self.opt_out_sources,
            "default_purposes": self.default_purposes,
            **self.social,
        }


@dataclass
class Person:
    key: str
    kind: str  # employee | associated
    category: str
    given: str
    family: str
    email: str | None
    phone: str | None
    site_id: str
    has_account: bool
    sources: list[dict[str, Any]] = field(default_factory=list)
    site_ids: list[str] = field(default_factory=list)
    active: bool = True
    hostile: bool = False
    paper_ack: dict[str, Any] | None = None
    title: str | None = None

    def truth(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "person_key": self.key,
            "kind": self.kind,
            "category": self.category,
            "given_name": self.given,
            "family_name": self.family,
            "email": self.email,
            "phone": self.phone,
            "site_id": self.site_id,
            "paper_only": self.kind == "associated" and not self.email,
            "has_district_account": self.has_account,
            "sources": self.sources,
            "site_ids": self.site_ids or [self.site_id],
            "active": self.active,
        }
        if self.hostile:
            out["hostile"] = True
        if self.paper_ack:
            out["paper_acknowledgement"] = self.paper_ack
        return out


@dataclass
class Student:
    id: str
    legal_first: str
    legal_last: str
    preferred_first: str
    preferred_last: str
    grade: str
    site_id: str

    @property
    def first(self) -> str:
        return self.preferred_first or self.legal_first

    @property
    def last(self) -> str:
        return self.preferred_last or self.legal_last


@dataclass
class Ctx:
    out: Path
    scale: ScaleConfig
    seed: int
    fake: Faker
    pools: NamePools
    domain: str = "standard-sd.org"
    district: dict[str, Any] = field(default_factory=dict)
    top: dict[str, Any] = field(default_factory=dict)
    sites: list[SiteInfo] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    students: list[Student] = field(default_factory=list)
    people_quarantine: list[dict[str, Any]] = field(default_factory=list)
    consent_quarantine: list[dict[str, Any]] = field(default_factory=list)
    consent_truth: dict[str, dict[str, Any]] = field(default_factory=dict)
    consent_conflicts: list[str] = field(default_factory=list)
    consent_notes: list[dict[str, Any]] = field(default_factory=list)  # data-quality values on applied rows
    consent_histories: dict[str, list[Any]] = field(default_factory=dict)  # student id -> consent records
    staff_names: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    def rng(self, name: str) -> random.Random:
        """An independent stream per component, so adding output to one part leaves the others unchanged."""
        return random.Random(f"{self.seed}:{name}")

    def site(self, site_id: str) -> SiteInfo:
        for s in self.sites:
            if s.id == site_id:
                return s
        raise KeyError(site_id)
