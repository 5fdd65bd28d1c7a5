"""Configuration errors end a run at once, in plain words; everything else may be transient and is retried.

``retry_unless_configuration`` is every retrying task's ``retry_condition_fn``; ``stops_on_configuration_error``
wraps each flow so that a :class:`~compliance.errors.ConfigurationError` raised anywhere in it becomes a Failed
run whose message is the fix, one error line in the log and a short artifact, with no traceback (Prefect logs
one for any exception that leaves a flow).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import get_run_logger
from prefect.states import Failed, State

from compliance.errors import ConfigurationError
from tasks.artifacts import publish_summary

P = ParamSpec("P")
R = TypeVar("R")


def retry_unless_configuration(task: object, task_run: object, state: State) -> bool:
    """Retry a failed task unless it failed on configuration (retrying only delays the fix)."""
    try:
        state.result()
    except ConfigurationError:
        return False
    except Exception:  # noqa: BLE001 - any other failure may be transient
        return True
    return True


def configuration_failure(flow_name: str, exc: ConfigurationError) -> State:
    """The Failed state a flow returns for ``exc``: its message, one log line, an artifact saying what to fix."""
    message = f"{flow_name} stopped: configuration needs fixing: {exc}"
    get_run_logger().error(message)
    publish_summary(
        f"{flow_name}-stopped",
        f"{flow_name} stopped before doing anything more: configuration needs fixing",
        {},
        notes=["Nothing was retried: fix the setting named below, then run again."],
        headline=[f"What to fix: {exc}"],
    )
    return Failed(message=message, data=exc)


def stops_on_configuration_error(func: Callable[P, R]) -> Callable[P, R]:
    """Flow body wrapper: a configuration error anywhere in the run ends it Failed with the fix as its message."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigurationError as exc:
            return configuration_failure(func.__name__.replace("_", "-"), exc)

    # Prefect builds the parameter model from the signature and resolves postponed annotations in the
    # wrapper's module, where e.g. CampaignParameters is unknown: hand it the flow's signature, resolved.
    wrapper.__signature__ = inspect.signature(func, eval_str=True)  # type: ignore[attr-defined]
    return wrapper
