"""Process environment for Prefect, set before Prefect is imported so a newcomer's run stays quiet.

Prefect reads its settings from the environment when it is first imported; everything here is a default that an
operator's own environment (or a real ``PREFECT_API_URL``) overrides.
"""

from __future__ import annotations

import logging
import os
import warnings

from compliance.settings import PROJECT_ROOT

QUIET_PREFECT_ENV: dict[str, str] = {
    "PREFECT_HOME": str(PROJECT_ROOT / "var" / "prefect"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_SERVER_LEVEL": "ERROR",
    "PREFECT_SERVER_LOGGING_LEVEL": "ERROR",
    "PREFECT_LOGGING_INTERNAL_LEVEL": "ERROR",
    "PREFECT_LOGGING_LOG_PRINTS": "false",
    "PREFECT_SERVER_UI_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_API_SERVICES_TRIGGERS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    "PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS": "4",
}


def configure_prefect_env() -> None:
    """Apply the quiet defaults; call before ``import prefect``."""
    for key, value in QUIET_PREFECT_ENV.items():
        os.environ.setdefault(key, value)
    os.makedirs(os.environ["PREFECT_HOME"], exist_ok=True)
    # google-api-python-client warns about file_cache on every build; the cache is off on purpose.
    logging.getLogger("googleapiclient.discovery_cache").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="googleapiclient.discovery_cache")
