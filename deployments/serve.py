"""Run every deployment from one long-lived process (one machine, no work pool, no worker).

    prefect server start                                                   # one terminal
    PREFECT_API_URL=http://127.0.0.1:4200/api python deployments/serve.py   # another, from the project root

The deployments come from the registry in compliance/shell/deployments.py, like deployments/prefect.yaml
(names, schedules, concurrency), with the district profile's time zone; use one or the other on a machine, not
both. Schedules pause when this process stops, so IT runs it under systemd or similar.
"""

from __future__ import annotations

from compliance.runtime import configure_prefect_env

configure_prefect_env()

from compliance.settings import PROJECT_ROOT  # noqa: E402
from compliance.shell.deployments import SERVE_RUN_LIMIT, build_deployments  # noqa: E402

__all__ = ["build_deployments", "main"]


def main() -> None:
    """Register the deployments with the API and execute their runs until stopped (Ctrl-C)."""
    import os

    from prefect import serve
    from prefect.settings import get_current_settings

    # Without an API URL Prefect would start a throw-away in-process server that never fires schedules: the
    # district would silently get no nightly run. Refuse and say what to do instead.
    if not get_current_settings().api.url:
        raise SystemExit(
            "PREFECT_API_URL is not set. Start `prefect server start` and run, for example:\n"
            "  PREFECT_API_URL=http://127.0.0.1:4200/api python deployments/serve.py"
        )

    # Entrypoints are recorded relative to the working directory; the project root makes them the same
    # ("flows/nightly.py:nightly") as the prefect.yaml deployments wherever this script is started from.
    os.chdir(PROJECT_ROOT)
    serve(*build_deployments(), limit=SERVE_RUN_LIMIT)


if __name__ == "__main__":
    main()
