"""Process environment for Prefect, set before Prefect is imported so a newcomer's run stays quiet.

Prefect reads its settings from the environment when it is first imported; everything here is a default that an
operator's own environment (or a real ``PREFECT_API_URL``) overrides.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
import warnings
from types import ModuleType
from typing import Any

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
    # It also warns on every 403/429 it sees; compliance.google decides what each one means and logs that.
    logging.getLogger("googleapiclient.http").setLevel(logging.ERROR)
    guard_child_servers()


_PREFECT_SERVER_MODULE = "prefect.server.api.server"


def _guarded_uvicorn_command(self: Any) -> Any:
    """Prefect's ``SubprocessASGIServer._run_uvicorn_command`` (3.x) with uvicorn run under
    :mod:`compliance.childguard`: a flow process killed with -9 no longer leaves its server running."""
    import subprocess

    import prefect
    from prefect.settings import get_current_settings

    server_env = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    return subprocess.Popen(
        args=[
            sys.executable, "-m", "compliance.childguard", str(os.getpid()),
            "uvicorn", "--app-dir", str(prefect.__module_path__.parent), "--factory",
            "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
            "--log-level", "error", "--lifespan", "on",
        ],  # fmt: skip
        env={**os.environ, **server_env, **get_current_settings().to_environment_variables(exclude_unset=True)},
    )


def _patch_server_module(module: ModuleType) -> None:
    server = getattr(module, "SubprocessASGIServer", None)
    if server is not None and hasattr(server, "_run_uvicorn_command"):
        server._run_uvicorn_command = _guarded_uvicorn_command


class _AfterImport(importlib.abc.MetaPathFinder):
    """Patches Prefect's server module when (and only if) something imports it: importing it up front would
    cost seconds in every process that talks to a real API."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name != _PREFECT_SERVER_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_patch(module: ModuleType) -> None:
            exec_module(module)
            _patch_server_module(module)

        loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


def guard_child_servers() -> None:
    """Make the Prefect ephemeral server a child that stops when this process dies (see compliance.childguard)."""
    if _PREFECT_SERVER_MODULE in sys.modules:
        _patch_server_module(sys.modules[_PREFECT_SERVER_MODULE])
    elif not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport())
