"""Pytest fixture for the standard sample district (owner: sample generator).

Import into a conftest or a test module: ``from sample_fixtures import sample_dir  # noqa: F401``.
The sample is generated once under var/sample and reused by later sessions until the generator changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The standard sample district (seed 1114): ``var/sample/standard-seed1114``."""
    from compliance.sample import ensure_sample

    return ensure_sample("standard")


@pytest.fixture(scope="module")
def sample(sample_dir: Path):  # type: ignore[no-untyped-def]
    """The standard sample with its profile as the active settings (restored afterwards): (folder, settings)."""
    import os

    from compliance.settings import load_settings, reset_settings

    old = os.environ.get("DC_PROFILE")
    os.environ["DC_PROFILE"] = str(sample_dir / "profile.toml")
    try:
        yield sample_dir, load_settings()
    finally:
        if old is None:
            os.environ.pop("DC_PROFILE", None)
        else:
            os.environ["DC_PROFILE"] = old
        reset_settings()


def sample_source(root: Path, settings, entry: str):  # type: ignore[no-untyped-def]
    """A profile input entry -> a reader source; Google Sheets come from the sample's sheets/<id>.json."""
    import json

    from compliance.tabular import sheets_source

    if entry.startswith("sheets:"):
        doc = json.loads((root / "sheets" / f"{entry.removeprefix('sheets:')}.json").read_text(encoding="utf-8"))
        return sheets_source(doc)
    return settings.input_path(entry)
