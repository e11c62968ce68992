"""`make demo`: the whole shop on one machine, stopped together with Ctrl-C.

Starts the embedded PostgreSQL and Valkey (unless DATABASE_URL / REDIS_URL are set),
migrates, creates an admin, starts a Celery worker and beat, loads the demo catalogue
(generated, or DEMO_DATASET=PATH in the Kaggle layout) and serves http://127.0.0.1:PORT.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from config import embedded

PYTHON = sys.executable


def _run(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], check=True, cwd=embedded.BASE_DIR)


def _spawn(name: str, command: list[str]) -> subprocess.Popen:
    print(f"[demo] starting {name}: {' '.join(command[1:])}", flush=True)
    # Own process group: Ctrl-C reaches this script, which then stops each child cleanly.
    return subprocess.Popen(command, cwd=embedded.BASE_DIR, start_new_session=True)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # Ctrl-C, and SIGTERM from a process manager, both stop everything cleanly.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    port = int(os.environ.get("PORT", "8000"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    valkey = None
    if "DATABASE_URL" not in os.environ:
        os.environ["DATABASE_URL"] = embedded.postgres_url()
        print(f"[demo] embedded PostgreSQL with pgvector, data in {embedded.VAR_DIR / 'postgres'}", flush=True)
    if "REDIS_URL" not in os.environ:
        redis_port = int(os.environ.get("EMBEDDED_REDIS_PORT", embedded.DEFAULT_REDIS_PORT))
        if embedded.port_open(redis_port):
            print(f"[demo] port {redis_port} is taken (another demo?); set EMBEDDED_REDIS_PORT", flush=True)
            return 1
        valkey = embedded.ValkeyServer(redis_port).start()
        os.environ["REDIS_URL"] = valkey.url
        print(f"[demo] embedded Valkey broker on {valkey.url}", flush=True)
    children: list[subprocess.Popen] = []
    try:
        _run("migrate", "--no-input", "-v", "0")
        celery = [PYTHON, "-m", "celery", "-A", "config"]
        children.append(
            _spawn(
                "worker",
                [
                    *celery,
                    "worker",
                    "-Q",
                    "celery,embeddings",
                    "-c",
                    os.environ.get("WORKER_CONCURRENCY", "1"),
                    "-l",
                    "info",
                    "-n",
                    f"demo-{port}@%h",
                ],
            )
        )
        schedule = str(embedded.VAR_DIR / f"celerybeat-schedule-{port}")
        children.append(_spawn("beat", [*celery, "beat", "-l", "warning", "-s", schedule]))
        _run("load_demo")
        children.append(_spawn("web", [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]))
        print(f"\n[demo] the shop is at http://127.0.0.1:{port}/  (admin: http://127.0.0.1:{port}/admin/)", flush=True)
        print("[demo] Ctrl-C stops everything.\n", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("[demo] a process exited; stopping the rest", flush=True)
        return 1
    except KeyboardInterrupt:
        print("\n[demo] stopping", flush=True)
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"[demo] {exc}", flush=True)
        return 1
    finally:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        if valkey:
            valkey.stop()


if __name__ == "__main__":
    sys.exit(main())
