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
