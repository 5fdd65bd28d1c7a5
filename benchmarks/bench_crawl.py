"""Crawl benchmark: first crawl of the standard sample sites vs a re-crawl of the unchanged sites.

Baseline: the first crawl (every page and image downloaded, evidence extracted) measured in the same run.
Measured: the re-crawl with what the first remembered: pages revalidated (HTML is ``Cache-Control: no-cache``,
answered 304), images still fresh (``max-age`` a week) on unchanged pages not asked for at all, evidence
reused. Also shown: the re-crawl with ``revalidate_fresh_images=True`` (every image revalidated, answered 304),
the behaviour before HTTP freshness. All include crawling, evidence building and remembering, the work the
nightly photo job does per site. The web server runs in its own process.

    .venv/bin/python -m benchmarks.bench_crawl [--repeat 5] [--synthetic]

``--synthetic`` (or a sample without websites) crawls generated fixture sites instead of the sample;
``--image-size 1200x900`` makes their photos the size of real school web photos.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from compliance.photos.evidence import ImageEvidence
from compliance.photos.freshness import MemoryCache
from compliance.photos.results import CrawlResult, build_evidence
from compliance.photos.store import remember_crawl
from compliance.photos.traversal import crawl_sites
from compliance.settings import Crawl


@contextmanager
def _server_process(root: Path) -> Iterator[str]:
    """The sample web server in its own process, like a remote host: it must not share our interpreter lock."""
    proc = subprocess.Popen([sys.executable, "-m", "emulator.websites", str(root)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _synthetic_sites(
    root: Path, sites: int = 5, pages: int = 30, images_per_page: int = 4, size: tuple[int, int] = (160, 120)
) -> list[str]:
    from PIL import Image

    ids = []
    for s in range(sites):
        site_id = f"school-{s}"
        ids.append(site_id)
        base = root / site_id
        (base / "images").mkdir(parents=True)
        links = "".join(f'<a href="p{p}.html">p{p}</a> ' for p in range(pages))
        (base / "index.html").write_text(f"<html><body>{links}</body></html>")
        (base / "robots.txt").write_text(f"User-agent: *\nDisallow: /{site_id}/private/\n")
        for p in range(pages):
            imgs = "".join(
                f'<figure><img src="images/i{(p * images_per_page + i) % (pages * 3)}.jpg" alt="Student {i}">'
                f"<figcaption>Photo {p}-{i}</figcaption></figure>"
                for i in range(images_per_page)
            )
            (base / f"p{p}.html").write_text(f"<html><body><p>Page {p}</p>{imgs}</body></html>")
        for i in range(pages * 3):
            out = io.BytesIO()
            # Noise compresses like a photo: at 1200x900 a file is a few hundred kB, like school web photos.
            noise = Image.effect_noise(size, 40 + i % 20).convert("RGB")
            Image.blend(noise, Image.new("RGB", size, (i * 7 % 256, i * 13 % 256, 90)), 0.5).save(out, "JPEG")
            (base / "images" / f"i{i}.jpg").write_bytes(out.getvalue())
    return ids


def _sample_sites() -> tuple[Path, list[str]] | None:
    try:
        from compliance.sample import ensure_sample

        sample = Path(ensure_sample("standard", 1114))
    except Exception as exc:  # the sample generator may not write websites yet
        print(f"sample not available ({type(exc).__name__}: {exc}); using synthetic sites", file=sys.stderr)
        return None
    sites_dir = sample / "sites"
    if not sites_dir.is_dir():
        return None
    return sites_dir, sorted(p.name for p in sites_dir.iterdir() if p.is_dir())


Run = tuple[float, float, dict[str, CrawlResult], dict[str, list[ImageEvidence]]]


def _crawl_all(base_url: str, site_ids: list[str], crawl: Crawl, caches: dict[str, MemoryCache]) -> Run:
    started = time.perf_counter()
    results = asyncio.run(
        crawl_sites(
            [(s, [f"{base_url}/{s}/"]) for s in site_ids],
            crawl,
            lambda s: caches.setdefault(s, MemoryCache()),
        )
    )
    crawled = time.perf_counter()
    evidence = {s: build_evidence(r, crawl.max_image_pixels) for s, r in results.items()}
    for site_id, result in results.items():
        remember_crawl(caches[site_id], result, evidence[site_id])
    return crawled - started, time.perf_counter() - started, results, evidence


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument(
        "--image-size",
        default="160x120",
        help="synthetic photo size, e.g. 1200x900 for web-photo sized files",
    )
    args = parser.parse_args(argv)
    crawl = Crawl(allow_loopback=True)
    revalidating = crawl.model_copy(update={"revalidate_fresh_images": True})

    with tempfile.TemporaryDirectory() as tmp:
        found = None if args.synthetic else _sample_sites()
        if found is None:
            width, height = (int(v) for v in args.image_size.lower().split("x"))
            root, site_ids = Path(tmp), _synthetic_sites(Path(tmp), size=(width, height))
            label = f"synthetic ({args.image_size} photos)"
        else:
            (root, site_ids), label = found, "standard sample"
        runs: dict[str, list[Run]] = {"first": [], "again": [], "revalidating": []}
        with _server_process(root) as base_url:
            for _ in range(args.repeat):
                caches: dict[str, MemoryCache] = {}
                runs["first"].append(_crawl_all(base_url, site_ids, crawl, caches))
                runs["again"].append(_crawl_all(base_url, site_ids, crawl, caches))
                # Last, so it cannot help the measured re-crawl; the next repeat starts from empty caches.
                runs["revalidating"].append(_crawl_all(base_url, site_ids, revalidating, caches))

        def agg(results: dict[str, CrawlResult], key: str) -> int:
            return sum(getattr(r.stats, key) for r in results.values())

        def median(name: str, index: int) -> float:
            return statistics.median(run[index] for run in runs[name])

        _, _, results1, evidence1 = runs["first"][-1]
        first = median("first", 1)
        print(f"crawl benchmark on the {label} sites ({len(site_ids)} sites, median of {args.repeat} runs)")
        pages = sum(len(r.pages) for r in results1.values())
        images = sum(len(r.images) for r in results1.values())
        print(f"  pages {pages}, image URLs {images}, evidence rows {sum(map(len, evidence1.values()))}")
        print(
            f"  first crawl          : {first * 1000:8.1f} ms (network {median('first', 0) * 1000:.1f} ms), "
            f"requests {agg(results1, 'requests')}, 200s {agg(results1, 'ok')}, "
            f"image bodies {agg(results1, 'image_bodies')}, bytes {agg(results1, 'bytes')}"
        )
        for name, title in (("again", "re-crawl"), ("revalidating", "re-crawl, revalidate")):
            results = runs[name][-1][2]
            total = median(name, 1)
            print(
                f"  {title:<21}: {total * 1000:8.1f} ms (network {median(name, 0) * 1000:.1f} ms), "
                f"requests {agg(results, 'requests')}, 304s {agg(results, 'not_modified')}, "
                f"fresh skips {agg(results, 'fresh_skips')}, image bodies {agg(results, 'image_bodies')}, "
                f"bytes {agg(results, 'bytes')}"
            )
        again, revalidated = median("again", 1), median("revalidating", 1)
        print(f"  ratio re-crawl / first crawl: {again / first:.3f} (target < 0.10)")
        print(f"  ratio re-crawl with every image revalidated / first crawl: {revalidated / first:.3f}")
        requests1, requests2 = agg(results1, "requests"), agg(runs["again"][-1][2], "requests")
        print(f"  requests ratio: {requests2}/{requests1} = {requests2 / requests1:.3f}")
        print(f"  cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
