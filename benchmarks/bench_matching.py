"""Name matching at district scale: the Aho-Corasick index against a naive rapidfuzz scan.

``.venv/bin/python -m benchmarks.bench_matching [--scale lausd|standard] [--baseline-captions N]
[--repeat N] [--generate]``

Workload: every caption of ``truth/captions.jsonl`` (lausd: 100,000) against the sample's roster
(lausd: 420,000 students), each caption searched with its site. When the lausd sample has not been
generated yet (it takes minutes) the benchmark builds an equivalent synthetic roster and caption set with a
fixed seed and says so; ``--generate`` makes it call ``compliance.sample.ensure_sample`` instead.

Baseline (named, measured in the same run): for each caption of a random sample,
``rapidfuzz.process.extract(caption, all_full_names, scorer=fuzz.partial_ratio, score_cutoff=90)`` over every
roster full name, the students scoring above the cut-off being the prediction; its time is scaled to the whole
caption set. Both are scored (precision/recall/F1 against the truth) on that same sample.

Prints medians over ``--repeat`` runs and the speed ratio. Only counts and timings are printed, never names.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compliance.photos.matching import (
    IDENTIFIED,
    Match,
    StudentName,
    build_index,
    load_evaluation_set,
    precision_recall,
)

Caption = dict[str, Any]


def synthetic(
    students: int, captions: int, sites: int, seed: int = 1114
) -> tuple[list[StudentName], list[str | tuple[str, str | None]], list[Caption]]:
    """A roster and captions shaped like the lausd sample (fixed seed), used when that sample is not ready."""
    from faker import Faker

    fake = Faker(["en_US", "es_MX"])
    fake.seed_instance(seed)
    rng = random.Random(seed)
    en, es = fake["en_US"], fake["es_MX"]
    en_first = [en.first_name() for _ in range(2500)]
    es_first = [es.first_name() for _ in range(2500)]
    en_last = [en.last_name() for _ in range(2500)]
    es_last = [es.last_name() for _ in range(2500)]
    nick = {"Robert": "Bobby", "William": "Billy", "Elizabeth": "Liz", "Michael": "Mike", "Daniel": "Danny"}
    site_ids = [f"site-{i:04d}" for i in range(sites)]
    roster: list[StudentName] = []
    for n in range(students):
        if rng.random() < 0.5:
            first = rng.choice(es_first)
            last = rng.choice(es_last)
            if rng.random() < 0.45:
                last = f"{last} {rng.choice(es_last)}"
        else:
            first = rng.choice(list(nick)) if rng.random() < 0.05 else rng.choice(en_first)
            last = rng.choice(en_last)
        preferred = nick.get(first) if rng.random() < 0.3 else None
        roster.append(StudentName(f"{1_000_000 + n}", first, last, preferred, None, site_ids[n % sites]))
    by_site: dict[str, list[StudentName]] = {}
    for st in roster:
        by_site.setdefault(st.site_id or "", []).append(st)
    staff = [f"{en.first_name()} {en.last_name()}" for _ in range(2 * sites)]
    places = ["Lincoln Park", "Washington Park", "Roosevelt Field", "Sierra Vista Library", "Chavez Center"]
    # Truth: a written form counts only when it belongs to one student of the site.
    owners: dict[tuple[str, str], set[str]] = {}

    def forms(st: StudentName) -> list[str]:
        out = [f"{st.legal_first} {st.legal_last}", f"{st.legal_first} {st.legal_last[0]}."]
        if st.preferred_first:
            out.append(f"{st.preferred_first} {st.legal_last}")
        if " " in st.legal_last:
            out.append(f"{st.legal_first} {st.legal_last.split()[0]}")
            out.append(f"{st.legal_last}, {st.legal_first}")
        return out

    from compliance.photos.matching import fold

    for st in roster:
        for f in forms(st):
            owners.setdefault((st.site_id or "", fold(f)), set()).add(st.student_id)
    # Staff work at one site each (a distractor on that school's pages only) and, as in the sample, a
    # caption never names a staff member whose name is also a student's at that school.
    staff_at = [(name, site_ids[k % sites]) for k, name in enumerate(staff)]
    staff_by_site: dict[str, list[str]] = {}
    for name, site in staff_at:
        if (site, fold(name)) not in owners:
            staff_by_site.setdefault(site, []).append(name)
    out: list[Caption] = []
    while len(out) < captions:
        site = rng.choice(site_ids)
        k = rng.choice((0, 0, 1, 1, 1, 2, 2, 3))
        names, ids = [], []
        for st in rng.sample(by_site[site], k):
            for f in rng.sample(forms(st), 2):
                if owners[(site, fold(f))] == {st.student_id}:
                    names.append(f)
                    ids.append(st.student_id)
                    break
        who = ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + (names[-1] if names else "")
        if not names:
            text = rng.choice(["Students at the science fair", "We hope to see you in May!", "Field day"])
        else:
            text = rng.choice(
                [f"{who} at the science fair", f"Congratulations to {who}!", f"Left to right: {who}.",
                 f"{who} with {rng.choice(staff_by_site.get(site) or ['the PTA'])} at {rng.choice(places)}"]
            )  # fmt: skip
        out.append({"caption_id": f"c{len(out):07d}", "site_id": site, "text": text, "student_ids": sorted(ids)})
    return roster, [*staff_at, *places], out


def naive_baseline(
    texts: Sequence[str], names: Sequence[str], ids: Sequence[str], cutoff: float = 90
) -> tuple[list[set[str]], list[float]]:
    """rapidfuzz partial_ratio of each text against every roster full name; (predictions, seconds per text)."""
    from rapidfuzz import fuzz, process, utils

    preds: list[set[str]] = []
    times: list[float] = []
    for text in texts:
        started = time.perf_counter()
        hits = process.extract(
            text, names, scorer=fuzz.partial_ratio, processor=utils.default_process, score_cutoff=cutoff,
            limit=None,
        )  # fmt: skip
        times.append(time.perf_counter() - started)
        preds.append({ids[i] for _name, _score, i in hits})
    return preds, times


def _sample_dir(scale: str, generate: bool) -> tuple[Path | None, str]:
    """The sample to run on and a note on its freshness; None when there is none (use synthetic data)."""
    try:
        from compliance.sample.core import GENERATOR_VERSION, MARKER, ensure_sample, sample_path
    except ImportError:
        return None, ""
    if generate or scale == "standard":
        return ensure_sample(scale), f"generator {GENERATOR_VERSION}"  # type: ignore[arg-type]
    path = sample_path(scale)  # type: ignore[arg-type]
    marker = path / MARKER
    if not marker.is_file() or not (path / "truth" / "captions.jsonl").is_file():
        return None, ""
    made_by = marker.read_text(encoding="utf-8").strip()
    # A finished sample from an older generator version is still a valid workload; regenerating one takes
    # minutes, so it is used as it is and the report says so.
    stale = "" if made_by == GENERATOR_VERSION else f", current is {GENERATOR_VERSION}; --generate refreshes it"
    return path, f"generator {made_by}{stale}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.bench_matching", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=("lausd", "standard"), default="lausd")
    parser.add_argument("--baseline-captions", type=int, default=40, help="captions the naive baseline scans")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of the index (median printed)")
    parser.add_argument("--generate", action="store_true", help="generate the sample when it is missing")
    args = parser.parse_args(argv)

    path, made_by = _sample_dir(args.scale, args.generate)
    t0 = time.perf_counter()
    if path is not None:
        roster, distractors, captions = load_evaluation_set(path)
        origin = f"sample {path.name} ({made_by})"
    else:
        roster, distractors, captions = synthetic(420_000, 100_000, 1000)
        origin = "synthetic lausd-shaped roster and captions (seed 1114; the lausd sample is not generated yet)"
    load_s = time.perf_counter() - t0
    print(f"data: {origin}: {len(roster):,} students, {len(distractors):,} distractors, {len(captions):,} captions")
    print(f"load: {load_s:.1f} s")

    t0, c0 = time.perf_counter(), time.process_time()
    index = build_index(roster, distractors=distractors)
    build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    # CPU time next to wall time: the machine may be shared, and then wall time is the larger one.
    print(f"index build: {build_s:.2f} s wall, {build_cpu:.2f} s CPU")

    # Keep plain strings and tuples only, as a pipeline holding the index would: 420,000 row objects left
    # alive make every garbage collection walk them, which is a cost of the caller, not of matching.
    names = [f"{s.preferred_first or s.legal_first} {s.legal_last}" for s in roster]
    ids = [s.student_id for s in roster]
    texts = [c["text"] for c in captions]
    sites = [c.get("site_id") for c in captions]
    truths = [tuple(c["student_ids"]) for c in captions]
    del roster, captions
    gc.collect()

    runs: list[float] = []
    cpu: list[float] = []
    results: list[list[Match]] = []
    for _ in range(max(1, args.repeat)):
        results = []
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        results = index.find_many(texts, site_ids=sites)
        runs.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    match_s = statistics.median(runs)
    p, r, f1 = precision_recall(truths, results)
    print(
        f"index match: median {match_s:.2f} s wall over {len(runs)} runs ({', '.join(f'{x:.2f}' for x in runs)}), "
        f"median {statistics.median(cpu):.2f} s CPU, {len(texts) / match_s:,.0f} captions/s"
    )
    print(f"index quality (all {len(texts):,} captions): precision={p:.4f} recall={r:.4f} f1={f1:.4f}")
    # A student the truth calls identified but the index scores below IDENTIFIED is either sent to review
    # (e.g. an adult at the same school has the same name) or missed outright.
    review = missed = 0
    for truth, found in zip(truths, results, strict=True):
        scored = {m.student_id: m.confidence for m in found}
        for sid in truth:
            if scored.get(sid, 0.0) < IDENTIFIED:
                review, missed = (review + 1, missed) if sid in scored else (review, missed + 1)
    print(f"truth students not identified: {review:,} sent to needs-review, {missed:,} not found at all")

    rng = random.Random(1114)
    picks = sorted(rng.sample(range(len(texts)), min(args.baseline_captions, len(texts))))
    base_preds, base_times = naive_baseline([texts[i] for i in picks], names, ids)
    per_caption = statistics.median(base_times)
    scaled = per_caption * len(texts)
    sample_truths = [truths[i] for i in picks]
    bp, br, bf = precision_recall(sample_truths, base_preds)
    ip, ir, if1 = precision_recall(sample_truths, [results[i] for i in picks])
    print(
        f"baseline (rapidfuzz partial_ratio vs {len(names):,} full names, cutoff 90): {len(picks)} captions, "
        f"median {per_caption * 1000:.1f} ms/caption, scaled to {len(texts):,}: {scaled:,.0f} s"
    )
    print(f"quality on the baseline's {len(picks)} captions:")
    print(f"    baseline precision={bp:.3f} recall={br:.3f} f1={bf:.3f}")
    print(f"    index    precision={ip:.3f} recall={ir:.3f} f1={if1:.3f}")
    print(f"speed ratio (baseline scaled / index median): {scaled / match_s:,.0f}x")
    print(f"index build + match: {build_s + match_s:.2f} s (target < 20 s for {len(texts):,} captions)")
    print(f"identified threshold: confidence >= {IDENTIFIED}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
