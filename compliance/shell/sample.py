"""``district-compliance sample ...``: generate the sample district."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console

sample_app = typer.Typer(no_args_is_help=True, help="Sample district for the demo, tests and benchmarks.")
console = Console(stderr=True)


@sample_app.command("generate")
def generate_command(
    scale: str = typer.Option("standard", help="standard (the demo district) or lausd (large-scale)"),
    seed: int = typer.Option(1114, help="Same seed, same content"),
    out: Path | None = typer.Option(None, help="Output folder (default: var/sample/<scale>-seed<seed>)"),
) -> None:
    """Write a sample district and print its counts and generation time."""
    from compliance.sample.core import ensure_sample, generate

    if scale not in ("standard", "lausd"):
        raise typer.BadParameter("scale must be standard or lausd")
    started = time.perf_counter()
    path = generate(out, scale, seed) if out else ensure_sample(scale, seed, force=True)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    summary = json.loads((path / "truth" / "summary.json").read_text(encoding="utf-8"))
    keys = (
        "sites",
        "employees",
        "associated_persons",
        "people",
        "students",
        "pages",
        "images",
        "appearances",
        "violations",
        "captions",
    )
    console.print(f"[green]{scale} sample (seed {seed}) written to {path}[/green]")
    console.print(", ".join(f"{k}={summary.get(k)}" for k in keys))
    console.print(f"generated in {elapsed:.1f} s")
