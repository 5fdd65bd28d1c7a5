"""The whole outside world of the sample district on this machine: Workspace emulator + school websites.

``LocalDistrict`` starts both, writes a service-account key, and points the pipeline's settings at them
through the environment (restored on exit). The demo and the end-to-end tests use it; production never does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any

from emulator.server import WorkspaceEmulator
from emulator.websites import SampleWebsites

ADMIN_SUBJECT = "it-admin@standard-sd.org"


def admin_subject(sample_dir: Path) -> str:
    """The sample's IT administrator (``it-admin@`` its district's domain): the subject the pipeline acts as."""
    import tomllib

    profile = Path(sample_dir) / "profile.toml"
    if profile.is_file():
        domain = tomllib.loads(profile.read_text(encoding="utf-8")).get("district", {}).get("domain")
        if domain:
            return f"it-admin@{domain}"
    return ADMIN_SUBJECT


class LocalDistrict:
    """Emulator seeded from ``sample_dir`` and its ``sites/`` served over HTTP, settings aimed at both.

    ``database_url`` is where the pipeline's store goes; ``limits`` and ``fault_seed`` go to the emulator.
    ``host_per_site`` serves each school's website on a port of its own (``SampleWebsites``).
    """

    def __init__(
        self,
        sample_dir: Path,
        database_url: str,
        *,
        work_dir: Path,
        limits: Any = None,
        fault_seed: int = 0,
        extra_env: dict[str, str] | None = None,
        sends_per_minute: int | None = None,
        host_per_site: bool = False,
    ) -> None:
        self.sample_dir = Path(sample_dir)
        self.database_url = database_url
        self.work_dir = Path(work_dir)
        self.extra_env = dict(extra_env or {})
        if sends_per_minute is not None:
            # A demo cannot wait out Google's 60 sends a minute for 700 people: emulate a project with a higher
            # per-minute quota, and tell the pipeline the same number so its pacing matches.
            from emulator.limits import EmulatorLimits

            limits = (limits or EmulatorLimits()).model_copy(update={"gmail_sends_per_minute": sends_per_minute})
            self.extra_env.setdefault("DC_QUOTAS__GMAIL_SENDS_PER_MINUTE", str(sends_per_minute))
        self.emulator = WorkspaceEmulator(
            seed_dir=self.sample_dir, limits=limits, fault_seed=fault_seed, refuse_unknown_subjects=True
        )
        self.websites = SampleWebsites(self.sample_dir / "sites", host_per_site=host_per_site)
        self._saved: dict[str, str | None] = {}

    @property
    def env(self) -> dict[str, str]:
        """The environment the pipeline runs with (also handed to subprocesses in tests)."""
        key_file = self.work_dir / "service-account.json"
        return {
            "DC_PROFILE": str(self.sample_dir / "profile.toml"),
            "DATABASE_URL": self.database_url,
            "DC_SITES_BASE_URL": self.websites.base_url,
            **({"DC_SITES_BASE_URLS": json.dumps(self.websites.site_urls)} if self.websites.site_urls else {}),
            "DC_CRAWL__ALLOW_LOOPBACK": "true",
            "DC_GOOGLE__ADMIN_SUBJECT": admin_subject(self.sample_dir),
            "DC_OUT_DIR": str(self.work_dir / "out"),
            # The sample district runs with the public demo token secret (production refuses it).
            "DC_ENVIRONMENT": "demo",
            **self.emulator.environment(key_file),
            **self.extra_env,
        }

    def __enter__(self) -> LocalDistrict:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.emulator.start()
        self.websites.__enter__()
        self.emulator.write_service_account(self.work_dir / "service-account.json")
        for key, value in self.env.items():
            self._saved[key] = os.environ.get(key)
            os.environ[key] = value
        _forget_cached_settings()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _forget_cached_settings()
        self.websites.__exit__(exc_type, exc, tb)
        self.emulator.stop()


def _forget_cached_settings() -> None:
    # The library's reset also drops whatever was built from the old settings (the task layer registers its
    # store and Google clients there), so the emulator needs nothing from the task layer.
    from compliance.settings import reset_settings

    reset_settings()
