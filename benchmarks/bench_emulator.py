"""Workspace emulator benchmark: start time, and Directory users.list paging at LAUSD scale through the real client.

Measured: (1) `WorkspaceEmulator` start (CA + server cert + uvicorn thread until it answers): the first in the
process (route table built from the discovery documents) and the median of 5 after it;
(2) pages per second listing 75,000 seeded users with maxResults=500 (150 pages) through
google-api-python-client over HTTPS, for the whole customer and for one orgUnitPath query.
Baseline, same run and same client/HTTPS path: the emulator with its users.list handler swapped for a naive
one that filters and sorts all 75,000 users on every page and slices by offset (what a list-and-slice fake
does); the ratio is what the in-memory indexes (sorted keys, cached filtered views, offset page tokens) buy.

    .venv/bin/python -m benchmarks.bench_emulator [--users 75000] [--repeat 3] [--baseline-repeat 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

SUBJECT = "it-admin@lausd-sample.org"
SCOPES = ["https://www.googleapis.com/auth/admin.directory.user.readonly"]


def _start_times(repeat: int) -> list[float]:
    from emulator import WorkspaceEmulator

    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        emu = WorkspaceEmulator().start()
        times.append(time.perf_counter() - started)
        emu.stop()
    return times


def _client(emu: Any) -> Any:
    import google_auth_httplib2
    import httplib2
    from google.oauth2 import service_account
    from googleapiclient.discovery import build

    creds = service_account.Credentials.from_service_account_info(emu.service_account_info(), scopes=SCOPES)
    creds = creds.with_subject(SUBJECT)
    http = google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http(ca_certs=str(emu.ca_path)))
    return build(
        "admin",
        "directory_v1",
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": emu.endpoint("admin")},
        http=http,
    )


def _page_all(users_resource: Any, **params: Any) -> tuple[int, int, float]:
    started = time.perf_counter()
    pages = count = 0
    request = users_resource.list(customer="my_customer", maxResults=500, **params)
    while request is not None:
        response = request.execute()
        pages += 1
        count += len(response.get("users", []))
        request = users_resource.list_next(request, response)
    return pages, count, time.perf_counter() - started


def _naive_handler(directory: Any) -> Any:
    """Baseline handler: re-filter and re-sort the whole directory for every page, then slice by offset."""
    from emulator.core import decode_token, encode_token
    from emulator.directory import _parse_query

    def users_list(call: Any) -> dict[str, Any]:
        preds = _parse_query(call.query.get("query", ""))
        chosen = [u for u in directory.users.values() if all(p(u) for p in preds)]
        chosen.sort(key=lambda u: u["primaryEmail"].lower())
        size = call.query.get("maxResults", 100)
        offset = int(decode_token(call.query["pageToken"])["o"]) if call.query.get("pageToken") else 0
        out: dict[str, Any] = {
            "kind": "admin#directory#users",
            "users": [{k: v for k, v in u.items() if k != "customSchemas"} for u in chosen[offset : offset + size]],
        }
        if offset + size < len(chosen):
            out["nextPageToken"] = encode_token({"o": offset + size})
        return out

    return users_list


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench_emulator")
    parser.add_argument("--users", type=int, default=75_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-repeat", type=int, default=1, help="the naive baseline is ~7x slower")
    args = parser.parse_args(argv)

    from emulator import WorkspaceEmulator
    from emulator.synthetic import directory_orgunits, directory_users

    cold = _start_times(1)[0]  # the first start in a process also builds the route table from discovery JSON
    starts = _start_times(5)
    print(
        f"emulator start: first in process {cold * 1000:.0f} ms (builds routes from the discovery documents); "
        f"then median {statistics.median(starts) * 1000:.0f} ms (5 runs, min {min(starts) * 1000:.0f})"
    )

    users = directory_users(args.users, domain="lausd-sample.org", suspended_every=40)
    with WorkspaceEmulator() as emu:
        started = time.perf_counter()
        emu.workspace.seed({"directory": {"users": users, "orgunits": directory_orgunits()}})
        print(f"seed {args.users:,} users in-process: {time.perf_counter() - started:.2f} s")
        users_resource = _client(emu).users()  # one Resource: building it costs the client ~50 ms each time
        handlers = emu.workspace.handlers
        indexed, naive_handler = handlers["directory.users.list"], _naive_handler(emu.workspace.directory)
        for label, params in [("whole customer", {}), ("orgUnitPath='/Schools'", {"query": "orgUnitPath='/Schools'"})]:
            rates, naive_rates = [], []
            pages = count = 0
            for _ in range(args.repeat):
                emu.workspace.directory._cache.clear()  # every repeat pays the first-page filter again
                pages, count, seconds = _page_all(users_resource, **params)
                rates.append(pages / seconds)
            for _ in range(args.baseline_repeat):
                handlers["directory.users.list"] = naive_handler
                try:
                    naive_pages, naive_count, naive_seconds = _page_all(users_resource, **params)
                finally:
                    handlers["directory.users.list"] = indexed
                assert (naive_pages, naive_count) == (pages, count)
                naive_rates.append(naive_pages / naive_seconds)
            rate, naive = statistics.median(rates), statistics.median(naive_rates)
            print(
                f"users.list {label}: {count:,} users in {pages} pages; median {rate:.1f} pages/s through "
                f"the real client over HTTPS ({count / pages * rate:,.0f} users/s)"
            )
            print(
                f"  baseline (naive filter+sort+slice per page, same client and HTTPS): median {naive:.1f} "
                f"pages/s; ratio indexed/baseline {rate / naive:.1f}x"
            )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
