"""``WorkspaceEmulator``: the app under uvicorn, HTTPS with a throwaway CA, in a background thread."""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from emulator.limits import EmulatorLimits

DEFAULT_CLIENT_EMAIL = "compliance@district-project.iam.gserviceaccount.com"


class WorkspaceEmulator:
    """Local Google Workspace over real HTTPS on 127.0.0.1 (free port unless ``port`` is given).

    Use as a context manager, or call ``start()``/``stop()``. ``base_url``, ``ca_path`` and
    ``service_account_info()`` are what a client needs; ``admin`` drives the ``/_emulator`` API.
    """

    def __init__(
        self,
        seed_dir: Path | None = None,
        limits: EmulatorLimits | None = None,
        fault_seed: int = 0,
        *,
        port: int = 0,
        state_dir: Path | None = None,
        refuse_unknown_subjects: bool = False,
    ) -> None:
        from emulator.workspace import Workspace

        # refuse_unknown_subjects: delegation to an address of the Directory's domain that is not a user fails
        # (invalid_grant), as at Google; off by default so fixtures can act as admins they did not seed.
        self.workspace = Workspace(
            limits=limits, fault_seed=fault_seed, refuse_unknown_subjects=refuse_unknown_subjects
        )
        self._seed_dir = Path(seed_dir) if seed_dir else None
        self._port = port
        self._state_dir = Path(state_dir) if state_dir else None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._admin: Any = None
        self.base_url = ""
        self.ca_path = Path()
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> WorkspaceEmulator:
        """Generate the CA and server certificate, bind, serve in a thread, wait until it answers."""
        import trustme
        import uvicorn

        from emulator.app import build_app

        if self._state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="workspace-emulator-")
            folder = Path(self._tmp.name)
        else:
            folder = self._state_dir
            folder.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="Workspace emulator")
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_path = folder / "emulator-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        cert_path = folder / "emulator-server.pem"
        leaf.private_key_and_cert_chain_pem.write_to_path(str(cert_path))

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted sockets inherit this; without it TLS records of one response wait out the client's delayed
        # ACK (~40 ms a request)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", self._port))
        self.port = sock.getsockname()[1]
        self.base_url = f"https://127.0.0.1:{self.port}"
        self.workspace.base_url = self.base_url
        config = uvicorn.Config(
            build_app(self.workspace),
            ssl_certfile=str(cert_path),
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]

        def run() -> None:
            asyncio.run(self._server.serve(sockets=[sock]))

        self._thread = threading.Thread(target=run, name=f"workspace-emulator-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("Workspace emulator failed to start")
            time.sleep(0.005)
        if self._seed_dir is not None:
            self.workspace.seed_dir(self._seed_dir)
        return self

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._server is not None:
            # idle keep-alive TLS connections would otherwise hold shutdown for the whole grace period
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> WorkspaceEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what clients need ---------------------------------------------------------------------------------

    def service_account_info(self, client_email: str = DEFAULT_CLIENT_EMAIL) -> dict[str, Any]:
        """A service-account key JSON (real RSA key) whose token_uri is this emulator's ``/token``."""
        return self.workspace.service_account_info(client_email)

    def write_service_account(self, path: Path, client_email: str = DEFAULT_CLIENT_EMAIL) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.service_account_info(client_email), indent=2))
        path.chmod(0o600)
        return path

    def api_key(self, project: str = "district-project") -> str:
        """An API key the emulator accepts for public YouTube and Blogger reads."""
        return self.workspace.api_key(project)

    def environment(self, service_account_file: Path) -> dict[str, str]:
        """The settings environment that points the compliance pipeline at this emulator."""
        return {
            "DC_GOOGLE__EMULATOR_URL": self.base_url,
            "DC_GOOGLE__CA_BUNDLE": str(self.ca_path),
            "DC_GOOGLE__SERVICE_ACCOUNT_FILE": str(service_account_file),
            "DC_GOOGLE__API_KEY": self.api_key(),
        }

    @property
    def admin(self):  # -> EmulatorAdmin (import kept lazy)
        from emulator.admin import EmulatorAdmin

        if self._admin is None:
            self._admin = EmulatorAdmin(self.base_url, ca_path=self.ca_path)
        return self._admin

    def endpoint(self, api: str) -> str:
        """``api_endpoint`` for client_options: Drive needs ``drive/v3/``, the others the bare host."""
        return f"{self.base_url}/drive/v3/" if api == "drive" else f"{self.base_url}/"

    def batch_uri(self, api: str) -> str:
        """Batch URI (googleapiclient ignores api_endpoint for batches, pass this as ``batch_uri=``)."""
        return {
            "gmail": f"{self.base_url}/batch/gmail/v1",
            "drive": f"{self.base_url}/batch/drive/v3",
        }.get(api, f"{self.base_url}/batch")
