"""Entry points: ``generate`` writes a sample district, ``ensure_sample`` caches one under var/sample.

Heavy imports (Faker, Pillow, openpyxl) happen inside ``generate`` so that the CLI stays quick to start.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Literal

from compliance.sample.version import GENERATOR_VERSION
from compliance.settings import PROJECT_ROOT

MARKER = ".complete"
Scale = Literal["standard", "lausd"]


def generate(out_dir: Path, scale: Scale = "standard", seed: int = 1114) -> Path:
    """Write a complete sample district into ``out_dir`` and return it.

    ``out_dir`` must be missing, empty, or an earlier sample (which is cleared first); anything else raises
    ValueError rather than mixing files. Same scale and seed give byte-identical files, except the timings in
    ``truth/summary.json`` (counts, phase timings and the generation time).
    """
    from compliance.sample.build import build

    if scale not in ("standard", "lausd"):
        raise ValueError(f"unknown scale {scale!r}: use standard or lausd")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / "truth" / "summary.json").is_file():
            raise ValueError(f"{out_dir}: not empty and not a sample district; refusing to write into it")
        # Regenerating over an older sample: clear it so no stale file (e.g. an old sheet id) survives.
        for child in out_dir.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    build(out_dir, scale, seed, started)
    return out_dir


def sample_path(scale: Scale = "standard", seed: int = 1114, root: Path | None = None) -> Path:
    """Where ``ensure_sample`` keeps a sample: ``<root or project>/var/sample/<scale>-seed<seed>``."""
    return (root or PROJECT_ROOT / "var" / "sample") / f"{scale}-seed{seed}"


def _is_current(path: Path) -> bool:
    marker = path / MARKER
    return marker.is_file() and marker.read_text(encoding="utf-8").strip() == GENERATOR_VERSION


def ensure_sample(
    scale: Scale = "standard", seed: int = 1114, *, force: bool = False, root: Path | None = None
) -> Path:
    """Return ``var/sample/<scale>-seed<seed>/``, generating it when missing or made by another version.

    Safe when several processes call it at once: one generates under a lock into a temporary folder that is
    renamed into place, the others wait for the lock and find it done. ``force`` regenerates; ``root``
    replaces ``var/sample`` (tests).
    """
    final = sample_path(scale, seed, root)
    if not force and _is_current(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    lock_path = final.parent / f".{final.name}.lock"
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not force and _is_current(final):
                return final
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
            try:
                generate(tmp, scale, seed)
                (tmp / MARKER).write_text(GENERATOR_VERSION + "\n", encoding="utf-8")
                if final.exists():
                    # Move the stale copy aside first so the swap itself is one rename.
                    stale = final.parent / f".{final.name}.old-{os.getpid()}"
                    final.rename(stale)
                    shutil.rmtree(stale, ignore_errors=True)
                tmp.rename(final)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(lock, fcntl.LOCK_UN)
    return final
