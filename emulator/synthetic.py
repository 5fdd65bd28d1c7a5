"""Synthetic Directory data for tests and benchmarks (the sample generator makes the realistic district)."""

from __future__ import annotations

from typing import Any

UNITS = ("/Schools/Lincoln", "/Schools/Roosevelt", "/Schools/Washington", "/Schools/Jefferson", "/District")


def directory_users(count: int, domain: str = "standard-sd.org", suspended_every: int = 0) -> list[dict[str, Any]]:
    """``count`` users spread round-robin over five org units; every ``suspended_every``-th one suspended."""
    users = []
    for i in range(count):
        unit = UNITS[i % len(UNITS)]
        users.append(
            {
                "primaryEmail": f"user{i:06d}@{domain}",
                "name": {"givenName": f"Given{i}", "familyName": f"Family{i % 997}"},
                "orgUnitPath": unit,
                "suspended": bool(suspended_every and i % suspended_every == 0),
                "organizations": [{"title": "Teacher", "primary": True}],
                "customSchemas": {"District": {"role": "teacher", "site_id": unit.rsplit("/", 1)[-1]}},
            }
        )
    return users


def directory_orgunits() -> list[dict[str, Any]]:
    """The org units ``directory_users`` places people in."""
    return [
        {"name": "Schools", "orgUnitPath": "/Schools", "parentOrgUnitPath": "/"},
        *[
            {"name": u.rsplit("/", 1)[-1], "orgUnitPath": u, "parentOrgUnitPath": "/Schools"}
            for u in UNITS
            if u.startswith("/Schools/")
        ],
        {"name": "District", "orgUnitPath": "/District", "parentOrgUnitPath": "/"},
    ]
