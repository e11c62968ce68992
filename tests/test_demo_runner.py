"""`make demo`'s process handling (config/demo.py, config/embedded.py), with real processes.

Services are small Python scripts here (the full demo takes minutes on two cores); the
supervisor, the broker and PostgreSQL are the real ones.
"""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from config import demo, embedded
from tests.helpers import wait_for

# A service whose main process stops its own child when it gets SIGTERM (as Celery's and
# gunicorn's masters do); the child logs whether anyone else signalled it.
SERVICE = textwrap.dedent(
    """
    import os, signal, sys, time
    name, log = sys.argv[1], sys.argv[2]
    def write(line):
        with open(log, "a") as f:
            f.write(line + "\\n")
    child = os.fork()
    if child == 0:
        signal.signal(signal.SIGTERM, lambda *a: (write(name + " child: SIGTERM from outside"), os._exit(1)))
        signal.signal(signal.SIGUSR1, lambda *a: (write(name + " child: stopped by its parent"), os._exit(0)))
        while True:
            time.sleep(0.1)
    def stop(*args):
        write(name + " stopping")
        os.kill(child, signal.SIGUSR1)
        os.waitpid(child, 0)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    write(name + " ready")
    while True:
        time.sleep(0.1)
    """
)


@pytest.fixture
def supervisor():
    running = demo.Supervisor()
    yield running
    running.stop()


def service(tmp_path, name: str) -> demo.Service:
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    return demo.Service(name, [sys.executable, str(script), name, str(tmp_path / "log")], stop_timeout=10)


def log_lines(tmp_path) -> list[str]:
    path = tmp_path / "log"
    return path.read_text().splitlines() if path.exists() else []


def test_services_stop_in_reverse_order_and_only_their_main_process_is_signalled(tmp_path, supervisor):
    """Web stops before beat, beat before the worker; a worker's pool child is stopped by the
    worker itself, never killed under it by a signal to the whole group (WorkerLostError)."""
    for name in ("worker", "beat", "web"):
        supervisor.start(service(tmp_path, name))
        wait_for(lambda name=name: f"{name} ready" in log_lines(tmp_path), timeout=20)
    supervisor.stop()
    stops = [line for line in log_lines(tmp_path) if "ready" not in line]
    assert stops == [
        "web stopping",
        "web child: stopped by its parent",
        "beat stopping",
        "beat child: stopped by its parent",
        "worker stopping",
        "worker child: stopped by its parent",
    ]


def test_a_service_that_dies_is_started_again(tmp_path, supervisor):
    """A crashed worker (here killed with SIGKILL) comes back; the shop does not stop."""
    worker = supervisor.start(service(tmp_path, "worker"))
    wait_for(lambda: log_lines(tmp_path).count("worker ready") == 1, timeout=20)
    first = worker.process.pid
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: worker.exited() is not None, timeout=10)
    supervisor.check()
    wait_for(lambda: log_lines(tmp_path).count("worker ready") == 2, timeout=20)
    assert worker.process.pid != first and worker.exited() is None


def test_a_service_that_keeps_dying_stops_the_demo(tmp_path, supervisor):
    """A crash loop is not restarted forever: after MAX_RESTARTS the demo gives up with the reason."""
    failing = supervisor.start(demo.Service("worker", [sys.executable, "-c", "raise SystemExit(3)"]))
    with pytest.raises(RuntimeError, match=f"worker exited {demo.MAX_RESTARTS} times"):
        for _ in range(demo.MAX_RESTARTS + 1):
            wait_for(lambda: failing.exited() is not None, timeout=20)
            supervisor.check()


def test_ctrl_c_in_the_terminal_does_not_stop_the_broker(tmp_path):
    """Ctrl-C reaches every process of the terminal's group; the broker must outlive it so that
    the worker can stop cleanly first (it printed Redis connection tracebacks before)."""
    script = textwrap.dedent(
        f"""
        import os, signal, time
        from pathlib import Path
        from config import embedded
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the demo handles Ctrl-C itself
        server = embedded.ValkeyServer(embedded.free_port(), Path({str(tmp_path)!r})).start()
        os.killpg(0, signal.SIGINT)  # what the terminal does on Ctrl-C
        time.sleep(0.5)
        print(server.process.poll() is None and embedded.port_open(server.port))
        server.stop()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=embedded.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,  # its own group, so the SIGINT reaches nothing of pytest
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_a_second_demo_gets_another_broker_port(monkeypatch):
    """With the default port taken (another demo), a free one is used; a chosen one that is taken is refused."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(embedded, "DEFAULT_REDIS_PORT", port)
        monkeypatch.delenv("EMBEDDED_REDIS_PORT", raising=False)
        chosen = demo.redis_port_choose()
        assert chosen != port and not embedded.port_open(chosen)
        monkeypatch.setenv("EMBEDDED_REDIS_PORT", str(port))
        with pytest.raises(RuntimeError, match=f"EMBEDDED_REDIS_PORT={port} is taken"):
            demo.redis_port_choose()


def test_a_stopped_embedded_postgres_is_started_again(tmp_path):
    """Stopping the postmaster by hand no longer leaves the demo at HTTP 500 for good."""
    import psycopg
    from embedded_postgres._commands import pg_ctl

    data_dir = tmp_path / "pg"
    url = embedded.postgres_url(data_dir, database="postgres")
    server_pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    try:
        assert embedded.postgres_revive(data_dir) is False  # running: nothing to do
        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir.resolve(), user=user)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(_libpq(url), connect_timeout=2).close()
        assert embedded.postgres_revive(data_dir) is True
        with psycopg.connect(_libpq(url), connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert int((data_dir / "postmaster.pid").read_text().split()[0]) != server_pid
    finally:
        embedded.stop_postgres(data_dir)
        time.sleep(0.1)


def _libpq(url: str) -> str:
    """The embedded URL (socket folder as the path, django-environ's form) as libpq parameters."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    socket_dir, database = unquote(parts.path).rsplit("/", 1)
    socket_dir = "/" + socket_dir.lstrip("/")
    return f"host={socket_dir} port={parts.port or 5432} user=postgres dbname={database}"


@pytest.mark.django_db
def test_the_demo_web_server_keeps_database_connections_bounded(tmp_path):
    """Clients that open a new connection per request made runserver open (and keep) a database
    connection per request thread until PostgreSQL ran out; gunicorn's fixed thread pool holds
    at most workers x threads of them."""
    import http.client
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    url = f"postgres://{db['USER']}@:{db['PORT'] or 5432}/{quote(db['HOST'], safe='')}/{db['NAME']}"
    port = embedded.free_port()
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.local", "DEBUG": "false"}
    server = subprocess.Popen(
        demo.web_command(port, workers=1, threads=2), cwd=embedded.BASE_DIR, env=env, start_new_session=True
    )
    try:
        wait_for(lambda: embedded.port_open(port), timeout=60)
        for _ in range(60):
            client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            client.request("GET", "/products/")
            assert client.getresponse().status == 200
            client.close()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchone()[0] <= 2
    finally:
        server.terminate()
        server.wait(30)
