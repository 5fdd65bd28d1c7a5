"""``district-compliance stack up|down``: the deployed system on one machine, offline, in one command.

``up`` starts, each in its own process group and logging under ``var/stack/logs/``: the sample district (the
Workspace emulator and the school websites), a Prefect server on a free port with its own ``PREFECT_HOME``
(``var/stack/prefect``: never the demo's or production's), then deploys every deployment and starts a process
worker whose environment already holds ``PREFECT_API_URL``. It writes ``var/stack/district-compliance.env``
from the committed template ``deployments/district-compliance.env.example`` and prints the UI's address.
``down`` stops what ``up`` started (the pid file ``var/stack/stack.json``), and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import typer
from rich.console import Console

from compliance.settings import PROJECT_ROOT

# Tests point this at a temporary folder so a developer's own stack is never touched.
STACK_DIR = Path(os.environ.get("DISTRICT_COMPLIANCE_STACK_DIR") or PROJECT_ROOT / "var" / "stack")
PID_FILE = STACK_DIR / "stack.json"
ENV_FILE = STACK_DIR / "district-compliance.env"
ENV_TEMPLATE = PROJECT_ROOT / "deployments" / "district-compliance.env.example"
DISTRICT_ENV = STACK_DIR / "district.json"
POOL = "district-compliance"
START_TIMEOUT = 180.0

stack_app = typer.Typer(no_args_is_help=True, help="The deployed system on this machine: server, worker, emulator.")
console = Console()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prefect_env(home: Path) -> dict[str, str]:
    """This process's environment for a stack child: its own PREFECT_HOME, no API URL inherited."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL" and not k.startswith("DC_")}
    env.pop("DATABASE_URL", None)
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_LOGGING_LEVEL": "INFO",
        }
    )
    return env


def render_env(template: str, values: dict[str, str]) -> str:
    """The template with each ``NAME=`` line given ``values[NAME]`` (other lines, comments included, kept)."""
    out = []
    for line in template.splitlines():
        match = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]*)=", line)
        if match and match.group(2) in values:
            line = f"{match.group(2)}={values[match.group(2)]}"
        out.append(line)
    return "\n".join(out) + "\n"


def _spawn(name: str, args: list[str], env: dict[str, str]) -> int:
    logs = STACK_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            args, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own group: `down` stops it and its children, nothing else
        )  # fmt: skip
    return proc.pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _wait(what: str, ready, pid: int, log: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if ready():
            return
        if not _alive(pid):
            break
        time.sleep(0.5)
    tail = "\n".join((STACK_DIR / "logs" / log).read_text(errors="replace").splitlines()[-30:])
    raise SystemExit(f"{what} did not start (log {STACK_DIR / 'logs' / log}):\n{tail}")


def _healthy(api_url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{api_url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _prefect(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "prefect", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
        check=False, timeout=300,
    )  # fmt: skip
    if done.returncode != 0 and "already exists" not in done.stdout + done.stderr:
        raise SystemExit(f"prefect {' '.join(args)} failed:\n{(done.stdout + done.stderr)[-3000:]}")


def read_pids() -> dict[str, object]:
    """What ``up`` recorded (pids, port, URLs); empty when the stack is not up."""
    try:
        return json.loads(PID_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@stack_app.command("up")
def up(port: int = typer.Option(0, help="Prefect server port on 127.0.0.1 (0: any free port).")) -> None:
    """Start server, emulator, websites and worker, deploy everything, write the env file, print the UI URL."""
    from compliance.sample import ensure_sample
    from compliance.shell.deployments import seal_parameter_forms

    running = read_pids()
    if running and all(_alive(int(pid)) for pid in running["pids"].values()):  # type: ignore[union-attr]
        console.print(f"stack already up: UI {running['ui_url']}  (env file {ENV_FILE})")
        return
    if running:
        down()
    STACK_DIR.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    home = STACK_DIR / "prefect"
    base = prefect_env(home)
    sample = ensure_sample()
    pids: dict[str, int] = {}
    DISTRICT_ENV.unlink(missing_ok=True)
    pids["district"] = _spawn(
        "district", [sys.executable, "-m", "compliance.shell.stack", str(sample), str(STACK_DIR)], base
    )
    # The UI's browser code asks this address for the API: right on any port, set before the server starts.
    pids["server"] = _spawn(
        "server", [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        {**base, "PREFECT_UI_API_URL": api_url, "PREFECT_SERVER_UI_ENABLED": "true"},
    )  # fmt: skip
    _write_pids(pids, port, api_url)
    _wait("the sample district (emulator, websites)", DISTRICT_ENV.exists, pids["district"], "district.log")
    _wait("the Prefect server", lambda: _healthy(api_url), pids["server"], "server.log")
    district = json.loads(DISTRICT_ENV.read_text(encoding="utf-8"))
    values = {**district, "PREFECT_API_URL": api_url, "PREFECT_HOME": str(home)}
    ENV_FILE.write_text(render_env(ENV_TEMPLATE.read_text(encoding="utf-8"), values), encoding="utf-8")
    run_env = {**base, **values}
    _prefect(["work-pool", "create", POOL, "--type", "process"], run_env)
    _prefect(["deploy", "--all", "--prefect-file", "deployments/prefect.yaml", "--no-prompt"], run_env)
    seal_parameter_forms(api_url)
    pids["worker"] = _spawn(
        "worker", [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--type", "process"],
        {**run_env, "PREFECT_WORKER_QUERY_SECONDS": "2"},
    )  # fmt: skip
    _write_pids(pids, port, api_url)
    console.print(f"Prefect UI: http://127.0.0.1:{port}   (API {api_url})")
    console.print(f"Settings for commands against this stack: set -a; . {ENV_FILE}; set +a", soft_wrap=True)
    console.print("Stop it with: district-compliance stack down  (or make stack-down)")


def _write_pids(pids: dict[str, int], port: int, api_url: str) -> None:
    PID_FILE.write_text(
        json.dumps({"pids": pids, "port": port, "api_url": api_url, "ui_url": f"http://127.0.0.1:{port}"}),
        encoding="utf-8",
    )


@stack_app.command("down")
def down() -> None:
    """Stop what ``stack up`` started (its process groups, newest first) and forget them."""
    recorded = read_pids()
    pids = recorded.get("pids") or {}
    for name, pid in reversed(list(pids.items())):  # type: ignore[union-attr]
        _stop_group(int(pid))
        console.print(f"stopped {name} (pid {pid})")
    PID_FILE.unlink(missing_ok=True)
    if not pids:
        console.print("stack not running (no pid file)")


def _stop_group(pid: int) -> None:
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
            with contextlib.suppress(ChildProcessError):  # reap our own child, so it is not left a zombie
                os.waitpid(pid, os.WNOHANG)
        if not _alive(pid):
            return


def serve_district(sample: Path, stack_dir: Path) -> None:
    """The stack's emulator and websites, until SIGTERM; their settings written to ``district.json``."""
    from emulator.district import LocalDistrict

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    district = LocalDistrict(
        sample,
        f"sqlite:///{stack_dir / 'compliance.db'}",
        work_dir=stack_dir / "district",
        extra_env={"DC_OUT_DIR": str(stack_dir / "out")},
        sends_per_minute=6000,
    )
    env_out = stack_dir / DISTRICT_ENV.name
    with district:
        tmp = env_out.with_suffix(".tmp")
        tmp.write_text(json.dumps(district.env), encoding="utf-8")
        tmp.replace(env_out)
        while not stop:
            time.sleep(0.5)


if __name__ == "__main__":
    serve_district(Path(sys.argv[1]), Path(sys.argv[2]))
