"""`make demo`: the whole shop on one machine, stopped together with Ctrl-C.

Starts the embedded PostgreSQL and Valkey (unless DATABASE_URL / REDIS_URL are set),
migrates, creates an admin, starts a Celery worker and beat, loads the demo catalogue
(generated, or DEMO_DATASET=PATH in the Kaggle layout) and serves http://127.0.0.1:PORT
with gunicorn, as production does (static files by WhiteNoise).

While it runs, a worker, beat, web server or embedded server that dies is started again;
Ctrl-C stops the web server first, then beat, the worker, and the servers they use last.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable

from config import embedded

PYTHON = sys.executable
# A service that dies this often within RESTART_WINDOW seconds is given up on (the demo stops).
MAX_RESTARTS = 5
RESTART_WINDOW = 120.0
# Seconds between checks that the embedded PostgreSQL is still up.
POSTGRES_CHECK_SECONDS = 5.0


# The worker trains the recommenders: OpenBLAS's own thread pool inside implicit's parallel loops
# makes training up to 10x slower (implicit.utils.check_blas_config) and takes both cores from the
# worker's other tasks. OMP_NUM_THREADS is left alone: implicit's own loops are OpenMP and may use
# the cores (OpenBLAS here is the pthreads build, which reads OPENBLAS_NUM_THREADS first).
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _run(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], check=True, cwd=embedded.BASE_DIR)


def _log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


class Service:
    """A child process that is restarted when it dies and stopped with SIGTERM to itself alone.

    Only the main process gets SIGTERM: Celery and gunicorn then stop their own children in
    order. A signal to the whole process group killed the worker's pool children under it
    (WorkerLostError). What is left of the group after `stop_timeout` is killed.
    """

    def __init__(
        self, name: str, command: list[str], *, stop_timeout: float = 30.0, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.command = command
        self.stop_timeout = stop_timeout
        self.env = env  # added to this process's environment
        self.process: subprocess.Popen | None = None
        self.restarts: deque[float] = deque()

    def start(self) -> Service:
        _log(f"starting {self.name}: {' '.join(self.command[1:])}")
        # Own session: Ctrl-C reaches this script only, which then stops each service in order.
        env = {**os.environ, **self.env} if self.env else None
        self.process = subprocess.Popen(self.command, cwd=embedded.BASE_DIR, start_new_session=True, env=env)
        return self

    def exited(self) -> int | None:
        """The exit code if the process has ended, else None."""
        return None if self.process is None else self.process.poll()

    def restart(self) -> bool:
        """Start it again after it died; False when it died too often lately (a crash loop)."""
        now = time.monotonic()
        while self.restarts and now - self.restarts[0] > RESTART_WINDOW:
            self.restarts.popleft()
        if len(self.restarts) >= MAX_RESTARTS:
            return False
        self.restarts.append(now)
        self._kill_group()  # e.g. pool children orphaned by a crashed worker
        self.start()
        return True

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                _log(f"{self.name} did not stop within {self.stop_timeout:.0f} s; killing it")
        self._kill_group()
        process.wait()
        self.process = None

    def _kill_group(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):  # nothing left of it
            os.killpg(self.process.pid, signal.SIGKILL)


class Supervisor:
    """Services in start order; `check` restarts dead ones, `stop` stops them in reverse order."""

    def __init__(self) -> None:
        self.services: list[Service] = []
        self.watchers: list[Callable[[], None]] = []

    def start(self, service: Service) -> Service:
        self.services.append(service.start())
        return service

    def check(self) -> None:
        """Restart every service that died; raises RuntimeError when one keeps dying."""
        for service in self.services:
            code = service.exited()
            if code is None:
                continue
            _log(f"{service.name} exited with code {code}; starting it again")
            if not service.restart():
                raise RuntimeError(f"{service.name} exited {MAX_RESTARTS} times within {RESTART_WINDOW:.0f} s")
        for watch in self.watchers:
            watch()

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()


def redis_port_choose() -> int:
    """EMBEDDED_REDIS_PORT if set (it must be free), else 6390, else any free port."""
    configured = os.environ.get("EMBEDDED_REDIS_PORT")
    if configured:
        port = int(configured)
        if embedded.port_open(port):
            raise RuntimeError(f"EMBEDDED_REDIS_PORT={port} is taken; choose another or unset it")
        return port
    if not embedded.port_open(embedded.DEFAULT_REDIS_PORT):
        return embedded.DEFAULT_REDIS_PORT
    return embedded.free_port()  # another demo has 6390


def web_command(port: int, *, workers: int | None = None, threads: int = 4) -> list[str]:
    """gunicorn as in production: a fixed pool of threads, so at most workers x threads database
    connections (runserver opened one per request thread and kept it; PostgreSQL ran out)."""
    workers = workers or int(os.environ.get("WEB_CONCURRENCY", "2"))
    return [
        *(PYTHON, "-m", "gunicorn", "config.wsgi:application"),
        *("--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads)),
        *("--timeout", "60", "--graceful-timeout", "5", "--error-logfile", "-"),
        "--no-control-socket",  # one per user by default: a second demo would take the first one's
    ]


def _postgres_watch() -> Callable[[], None]:
    last = [time.monotonic()]

    def watch() -> None:
        if time.monotonic() - last[0] < POSTGRES_CHECK_SECONDS:
            return
        last[0] = time.monotonic()
        if embedded.postgres_revive():
            _log("the embedded PostgreSQL had stopped; started it again")

    return watch


def _valkey_watch(valkey: embedded.ValkeyServer) -> Callable[[], None]:
    def watch() -> None:
        if valkey.process is not None and valkey.process.poll() is None:
            return
        if embedded.port_open(valkey.port):
            return  # someone started a server on the port by hand: use it
        _log(f"the embedded Valkey on port {valkey.port} had stopped; starting it again")
        valkey.start()

    return watch


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # Ctrl-C, and SIGTERM from a process manager, both stop everything cleanly.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    port = int(os.environ.get("PORT", "8000"))
    if embedded.port_open(port):
        _log(f"port {port} is taken (another demo?); PORT=8765 make demo uses another")
        return 1
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    # The shop as a shopper sees it (its own 404 and 500 pages); DEBUG=true for Django's debug pages.
    os.environ.setdefault("DEBUG", "false")
    supervisor = Supervisor()
    valkey = None
    embedded_postgres = "DATABASE_URL" not in os.environ
    try:
        if embedded_postgres:
            os.environ["DATABASE_URL"] = embedded.postgres_url()
            _log(f"embedded PostgreSQL with pgvector, data in {embedded.VAR_DIR / 'postgres'}")
            supervisor.watchers.append(_postgres_watch())
        if "REDIS_URL" not in os.environ:
            valkey = embedded.ValkeyServer(redis_port_choose()).start()
            os.environ["REDIS_URL"] = valkey.url
            _log(f"embedded Valkey broker on {valkey.url}")
            if valkey.port != embedded.DEFAULT_REDIS_PORT:
                _log(f"manage.py commands in another terminal need REDIS_URL={valkey.url}")
            supervisor.watchers.append(_valkey_watch(valkey))
        _run("migrate", "--no-input", "-v", "0")
        _run("collectstatic", "--no-input", "-v", "0")  # WhiteNoise serves them from STATIC_ROOT
        celery = [PYTHON, "-m", "celery", "-A", "config"]
        worker = [*celery, "worker", "-Q", "celery,embeddings", "-l", "info", "-n", f"demo-{port}@%h"]
        worker += ["-c", os.environ.get("WORKER_CONCURRENCY", "1")]
        # A running embedding batch is finished before the worker stops (warm shutdown).
        supervisor.start(Service("worker", worker, stop_timeout=60, env=WORKER_ENV))
        schedule = str(embedded.VAR_DIR / f"celerybeat-schedule-{port}")
        supervisor.start(Service("beat", [*celery, "beat", "-l", "warning", "-s", schedule], stop_timeout=10))
        _run("load_demo")
        supervisor.start(Service("web", web_command(port), stop_timeout=10))
        _log(f"the shop is at http://127.0.0.1:{port}/  (admin: http://127.0.0.1:{port}/admin/)")
        _log("Ctrl-C stops everything.\n")
        while True:
            time.sleep(0.5)
            supervisor.check()
    except KeyboardInterrupt:
        print(flush=True)
        _log("stopping")
        return 0
    except RuntimeError as exc:
        _log(f"{exc}; stopping")
        return 1
    except subprocess.CalledProcessError as exc:
        _log(str(exc))
        return 1
    finally:
        # Ctrl-C again must not cut the stop short and leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # Web first (no new work), then beat, then the worker, then the broker they use;
        # the embedded PostgreSQL stops when this process exits.
        supervisor.stop()
        if valkey:
            valkey.stop()
        _log("stopped")


if __name__ == "__main__":
    sys.exit(main())
