"""Container healthchecks (docker-compose.yml): `python -m config.healthcheck web|worker`.

web: the shop's home page answers through gunicorn, Django and the database (status below 400).
worker: the Celery worker of this container answers a ping on the broker.
Exit code 0 means healthy; otherwise the reason is printed.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import sys


def web_check(*, host: str = "127.0.0.1", port: int = 8000, timeout: float = 5.0) -> str | None:
    """None when the home page answers below 400, else the reason."""
    # A name the shop accepts (the first of ALLOWED_HOSTS, "*.x" and ".x" made concrete), as if
    # through the HTTPS proxy, so neither the host check nor the HTTPS redirect answers instead.
    allowed = os.environ.get("ALLOWED_HOSTS", "localhost").split(",")[0].strip().lstrip("*.")
    headers = {"Host": allowed or "localhost", "X-Forwarded-Proto": "https"}
    try:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        connection.request("GET", "/", headers=headers)
        status = connection.getresponse().status
    except OSError as exc:
        return f"no answer from {host}:{port}: {exc}"
    return None if status < 400 else f"GET / answered HTTP {status}"


def worker_check(*, name: str | None = None, timeout: float = 5.0) -> str | None:
    """None when the worker `name` (default: celery@<this host>, Celery's default name) answers a ping."""
    from config.celery_app import app

    name = name or f"celery@{socket.gethostname()}"
    try:
        replies = app.control.ping(destination=[name], timeout=timeout)
    except Exception as exc:  # broker unreachable
        return f"could not ping {name}: {exc}"
    return None if any(name in reply for reply in replies) else f"{name} did not answer a ping within {timeout} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=["web", "worker"])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--name", default=None, help="worker node name (default celery@<hostname>)")
    args = parser.parse_args(argv)
    problem = web_check(port=args.port) if args.service == "web" else worker_check(name=args.name)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
