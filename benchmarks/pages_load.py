"""Pages under load: the product page (with its similar items) and search by photo, served by
gunicorn with the production settings, against a real catalogue in a scratch database.

Run: python -m benchmarks.pages_load [--dataset fashion-sample] [--clients 1,8,16,32]
     [--scenarios product,product-no-fragments,product-uncached,product-log-on,product-log-off,photo,photo-start]
     [--seconds 20]
     [--workers 2 --threads 4] [--also-bought-reads 5000] [--out docs]

Steps: a scratch database beside the shop's (dropped at the end), migrate, import the dataset,
embed it, collectstatic, a seeded shopping history (demo.history) and the behavioural
recommenders trained on it; per scenario a gunicorn on a free port; each scenario at each client
count for a fixed time after a warm-up. The load generator is a thread per client in this process,
on the same two cores as the server: its cost is part of what is measured. Each client keeps the
session cookie the shop sets, as a browser does (the event log keys anonymous shoppers by it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from benchmarks.common import BASE_DIR, DATA_DIR, fmt, git_commit, loadavg, machine, scratch_database

SCRATCH_SUFFIX = "_bench_pages"
# name: (label in the report, environment for its server)
SCENARIOS = {
    "product": ("product page", {}),
    "product-uncached": ("product page, no similar-items cache", {"SIMILAR_ITEMS_CACHE_SECONDS": "0"}),
    # The event log's cost on the page: the same load with logging on and off, side by side.
    "product-log-on": ("product page, event log on", {"EVENT_LOG_ENABLED": "true"}),
    "product-log-off": ("product page, event log off", {"EVENT_LOG_ENABLED": "false"}),
    "photo": ("search by photo", {}),
    # The same with the product-card fragments rendered on every page (PRODUCT_CARDS_CACHE_SECONDS=0).
    "product-no-fragments": ("product page, card lists rendered each time", {"PRODUCT_CARDS_CACHE_SECONDS": "0"}),
}
# A web process's start, with the model loaded at start (config/wsgi.py) and without: its memory
# and the first searches by photo it answers (scenario "photo-start").
START_MODES = {
    "model loaded at start": {"PHOTO_SEARCH_WARM": "true"},
    "model loaded by the first search": {"PHOTO_SEARCH_WARM": "false"},
}
WORK_DIR = BASE_DIR / "var" / "bench-pages"


@dataclass
class Request:
    method: str
    path: str
    body: bytes = b""
    content_type: str = ""


@dataclass
class Run:
    """One timed run of a scenario at a client count."""

    scenario: str
    clients: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    statuses: dict[int, int]

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + self.errors

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def p(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


@dataclass
class Result:
    """The repeated runs of one cell; figures are medians over the runs."""

    runs: list[Run]

    @property
    def scenario(self) -> str:
        return self.runs[0].scenario

    @property
    def clients(self) -> int:
        return self.runs[0].clients

    @property
    def rps(self) -> float:
        return statistics.median(run.rps for run in self.runs)

    @property
    def requests(self) -> int:
        return sum(run.requests for run in self.runs)

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.runs)

    def p(self, q: float) -> float | None:
        values = [value for run in self.runs if (value := run.p(q)) is not None]
        return statistics.median(values) if values else None


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def run_load(port: int, requests: list[Request], clients: int, seconds: float, label: str, once: bool = False) -> Run:
    """`clients` threads, each sending requests back to back (round robin over `requests`); with
    once, each sends one request whatever the time."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    counter = iter(range(10**12))

    def client() -> None:
        nonlocal errors
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        cookie = ""  # the session cookie, kept as a browser keeps it
        sent = 0
        while time.perf_counter() < stop_at or (once and not sent):
            if once and sent:
                break
            sent += 1
            with lock:
                request = requests[next(counter) % len(requests)]
            headers = {"Content-Type": request.content_type} if request.content_type else {}
            if cookie:
                headers["Cookie"] = cookie
            started = time.perf_counter()
            try:
                connection.request(request.method, request.path, body=request.body or None, headers=headers)
                response = connection.getresponse()
                response.read()
                for value in response.headers.get_all("Set-Cookie") or []:
                    if value.startswith("sessionid="):
                        cookie = value.split(";", 1)[0]
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    if response.status == 200:
                        latencies.append(elapsed)
                    else:
                        errors += 1
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException):
                with lock:
                    errors += 1
                connection.close()
        connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    with tqdm(total=round(seconds), desc=f"{label} x{clients}", unit="s", leave=False) as bar:
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            time.sleep(1)
            bar.update(min(1, bar.total - bar.n))
    elapsed = time.perf_counter() - started
    return Run(label, clients, elapsed, latencies, errors, statuses)


# --- the scratch shop -------------------------------------------------------------------------


def scratch_setup(dataset: Path, limit: int | None) -> tuple[dict, str, dict]:
    """Scratch database with the dataset imported and embedded; returns (database, name, env)."""
    database, name, env = scratch_database(SCRATCH_SUFFIX, WORK_DIR)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "SECRET_KEY": "benchmark-only-" + uuid.uuid4().hex,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "SERVE_MEDIA": "true",
            "STATIC_ROOT": str(WORK_DIR / "static"),
            # The benchmark is the only client: the per-client limit would reject its load.
            "PHOTO_SEARCH_THROTTLE_RATE": "1000000/minute",
            "LOG_LEVEL": "WARNING",
        }
    )
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    limit_args = ["--limit", str(limit)] if limit else []
    steps = [
        ("Creating the tables", [*manage, "migrate", "--no-input", "--verbosity", "0"]),
        ("Collecting static files", [*manage, "collectstatic", "--no-input", "--verbosity", "0"]),
        ("Importing the catalogue", [*manage, "import_catalog", str(dataset), "--no-queue", *limit_args]),
        ("Computing the embeddings", [*manage, "embed_products", "--missing", "--now"]),
        (
            "A shopping history",
            [*manage, "shell", "-c", "from demo.history import demo_history_generate; print(demo_history_generate())"],
        ),
        ("Training the behavioural recommenders", [*manage, "train_recommenders"]),
    ]
    for title, command in steps:
        print(f"== {title}", flush=True)
        subprocess.run(command, env=env, cwd=BASE_DIR, check=True)
    return database, name, env


def server_start(env: dict, workers: int, threads: int) -> tuple[subprocess.Popen, int]:
    """gunicorn on a free port with the given environment."""
    from config import embedded

    port = embedded.free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            *("-m", "gunicorn", "config.wsgi:application"),
            *("--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads)),
            *("--timeout", "120", "--log-level", "warning"),
        ],
        env=env,
        cwd=BASE_DIR,
    )
    deadline = time.monotonic() + 60
    while not embedded.port_open(port):
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("gunicorn did not start")
        time.sleep(0.2)
    return server, port


def server_stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


def manage_shell(env: dict, code: str) -> str:
    """What `manage.py shell -c code` prints, run against the scratch database of `env`."""
    command = [sys.executable, str(BASE_DIR / "manage.py"), "shell", "--verbosity", "0", "-c", code]
    return subprocess.run(command, env=env, cwd=BASE_DIR, check=True, capture_output=True, text=True).stdout


def product_ids(env: dict) -> list[int]:
    code = (
        "from shop.models import Product; print(*Product.objects.filter(is_active=True).values_list('id', flat=True))"
    )
    return [int(value) for value in manage_shell(env, code).split()]


def photo_requests(folder: Path, count: int, seed: int) -> list[Request]:
    files = sorted(folder.glob("*.jpg"))
    random.Random(seed).shuffle(files)
    requests = []
    for path in files[:count]:
        body, content_type = multipart("image", path.name, path.read_bytes())
        requests.append(Request("POST", "/api/search/photo/", body, content_type))
    return requests


def warm_up(port: int, requests: list[Request], workers: int, threads: int) -> None:
    """Until every worker process has loaded the model: rounds of concurrent searches until
    the slowest one is fast."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        result = run_load(port, requests, workers * threads, 3.0, "warm-up")
        if result.latencies_ms and max(result.latencies_ms) < 2000 and not result.errors:
            return
    print("warning: the warm-up did not settle within 3 minutes", file=sys.stderr)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(value) for value in path.read_text().split()] if path.exists() else []


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def workers_settled(server: subprocess.Popen, workers: int) -> list[int]:
    """The worker pids once all have started and stopped using CPU for 2 s (done importing the app,
    and loading the model when configured to)."""
    deadline = time.monotonic() + 300
    last: dict[int, int] = {}
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        pids = _children(server.pid)
        ticks = {pid: _cpu_ticks(pid) for pid in pids}
        if len(pids) < workers or ticks != last:
            last, quiet_since = ticks, time.monotonic()
        elif time.monotonic() - quiet_since >= 2:
            return pids
        time.sleep(0.5)
    raise SystemExit("gunicorn workers did not settle within 5 minutes")


def photo_start(env: dict, photos: list[Request], workers: int, threads: int) -> list[dict]:
    """Per start mode: each worker's memory once started, then the first round of searches by photo
    (workers x threads at once, so every worker gets some): their slowest and median latency."""
    rows = []
    for mode, extra in START_MODES.items():
        server, port = server_start({**env, **extra}, workers, threads)
        try:
            pids = workers_settled(server, workers)
            rss = [_rss_mb(pid) for pid in pids]
            first = run_load(port, photos, workers * threads, 0.0, "first searches", once=True)
            rss_after = [_rss_mb(pid) for pid in pids]
            rows.append(
                {
                    "mode": mode,
                    "rss": statistics.fmean(rss),
                    "rss_after": statistics.fmean(rss_after),
                    "first_max": max(first.latencies_ms) if first.latencies_ms else None,
                    "first_p50": statistics.median(first.latencies_ms) if first.latencies_ms else None,
                    "first_n": len(first.latencies_ms),
                    "errors": first.errors,
                }
            )
            print(f"photo start, {mode}: {rows[-1]}", flush=True)
        finally:
            server_stop(server)
    return rows


def photo_start_table(rows: list[dict]) -> str:
    if not rows:
        return ""
    lines = [
        "",
        "Web process start (`photo-start`): each gunicorn worker's memory (VmRSS, mean over the workers) once "
        "it has started and gone idle, then the first round of searches by photo (one per thread of every "
        "worker, all at once) and the memory after it:",
        "",
        "| start | RSS at start MB | first searches: slowest ms | median ms | searches | RSS after MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['mode']} | {row['rss']:.0f} | {fmt(row['first_max'], 0)} | {fmt(row['first_p50'], 0)} "
            f"| {row['first_n']} | {row['rss_after']:.0f} |"
        )
    return "\n".join(lines) + "\n"


ALSO_BOUGHT_READS_CODE = """
import json, random, time
from recommendations.selectors import product_also_bought_list
from shop.models import Product
products = list(Product.objects.filter(is_active=True))
random.Random({seed}).shuffle(products)
for product in products[:200]:
    product_also_bought_list(product=product)  # warm connection and caches
timings, found = [], 0
for number in range({reads}):
    product = products[number % len(products)]
    started = time.perf_counter()
    found += bool(product_also_bought_list(product=product))
    timings.append((time.perf_counter() - started) * 1000)
timings.sort()
# The event write alone: a returning anonymous shopper's product-page view.
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory
from events.models import Interaction
from events.services import interaction_record_request
request = RequestFactory().get("/products/1/", HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0")
request.user, request.session = AnonymousUser(), SessionStore()
writes = []
for number in range({reads}):
    product = products[number % len(products)]
    started = time.perf_counter()
    interaction_record_request(request=request, product_id=product.pk, kind="view", surface="product_page")
    writes.append((time.perf_counter() - started) * 1000)
writes.sort()
Interaction.objects.filter(session_key=request.session.session_key).delete()
print(json.dumps({{"reads": len(timings), "p50": timings[len(timings) // 2],
                  "p95": timings[int(len(timings) * 0.95)], "with_list": found / len(timings),
                  "write_p50": writes[len(writes) // 2], "write_p95": writes[int(len(writes) * 0.95)]}}))
"""


def also_bought_reads(env: dict, reads: int, seed: int) -> dict:
    """The "also bought" read alone, in one process: p50/p95 ms over `reads` reads across the catalogue."""
    import json

    out = manage_shell(env, ALSO_BOUGHT_READS_CODE.format(reads=reads, seed=seed))
    return json.loads(out.strip().splitlines()[-1])


def logging_cost(results: list[Result]) -> str:
    """p50 of the page with the event log on minus off, per client count (when both ran)."""
    on = {r.clients: r for r in results if r.scenario == SCENARIOS["product-log-on"][0]}
    off = {r.clients: r for r in results if r.scenario == SCENARIOS["product-log-off"][0]}
    lines = []
    for clients in sorted(set(on) & set(off)):
        a, b = on[clients].p(50), off[clients].p(50)
        if a is not None and b is not None:
            lines.append(f"  - {clients} client(s): p50 {a:.1f} ms on, {b:.1f} ms off: {a - b:+.2f} ms")
    return "\n".join(lines)


# --- report -----------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    lines = [
        "| scenario | clients | requests/s | p50 ms | p95 ms | p99 ms | requests | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | {r.clients} | {r.rps:,.1f} | {fmt(r.p(50), 1)} | {fmt(r.p(95), 1)} "
            f"| {fmt(r.p(99), 1)} | {r.requests:,} | {r.errors} |"
        )
    return "\n".join(lines)


def plot(results: list[Result], img_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img_dir.mkdir(parents=True, exist_ok=True)
    path = img_dir / "pages_load.png"
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for number, scenario in enumerate(dict.fromkeys(r.scenario for r in results)):
        rows = [r for r in results if r.scenario == scenario]
        clients = [r.clients for r in rows]
        colour = f"C{number}"  # one colour per scenario in both panels
        left.plot(clients, [r.rps for r in rows], marker="o", color=colour, label=scenario)
        right.plot(clients, [r.p(50) for r in rows], marker="o", color=colour, label=f"{scenario} p50")
        right.plot(clients, [r.p(95) for r in rows], marker="x", linestyle="--", color=colour, label=f"{scenario} p95")
    left.set(xlabel="concurrent clients", ylabel="requests/s", title="Throughput")
    right.set(xlabel="concurrent clients", ylabel="latency (ms)", yscale="log", title="Latency")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def append_report(out_dir: Path, results: list[Result], command: str, facts: dict, image: Path) -> Path:
    report = out_dir / "benchmarks.md"
    section = f"""
## Pages under load, {dt.datetime.now().strftime("%Y-%m-%d %H:%M")} (commit {git_commit() or "unknown"})

- Machine: {machine()}; load average at start {facts["loadavg"]}.
- Command: `{command}` (total {facts["total_s"] / 60:.1f} min).
- Server: gunicorn, {facts["workers"]} workers x {facts["threads"]} threads, `config.settings.production`
  (DEBUG off), catalogue `{facts["dataset"]}` ({facts["products"]:,} products, embedded) in a scratch database.
- Load: one thread per client in the benchmark process, each sending its next request as soon as the last
  one answered, {facts["repeats"]} runs of {facts["seconds"]:.0f} s per row (medians shown) after a warm-up
  (every worker has loaded the model).
  The generator shares the 2 cores with the server. Latency counts 200 responses only; any other status or
  a failed connection is an error.
- Product page: `GET /products/<id>/` over all products in a shuffled order (the page with its similar
  items and more of the same type). Every run (and the warm-up) starts again at the first product, so
  most visits after the first run find that page's similar items in the per-process cache
  (`SIMILAR_ITEMS_CACHE_SECONDS`, as a shop's popular pages would); "no similar-items cache" is the
  same load on a server started with `SIMILAR_ITEMS_CACHE_SECONDS=0`, where every page pays the full
  vector search. Each scenario has a server of its own.
- Search by photo: `POST /api/search/photo/` with {facts["photos"]} catalogue photos of
  `{facts["photo_dataset"]}` (held out from the searched catalogue when that is `fashion-extra`).
- Each client keeps the session cookie, as a browser does. The page logs a `view` (event log on,
  the default) and shows "Customers who bought this also bought" from a seeded history
  (`demo.history`, {facts["history"]}) trained with `train_recommenders`.
{facts["log_cost"]}{facts["also_bought"]}

{table(results)}
{facts["photo_start"]}
![requests/s and latency vs clients]({image.relative_to(out_dir).as_posix()})
"""
    with report.open("a") as handle:
        handle.write(section)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-sample", help="folder name under the data dir, or a path")
    parser.add_argument("--photos", default="fashion-extra", help="query photos: folder name or path")
    parser.add_argument("--photo-count", type=int, default=50)
    parser.add_argument("--limit", type=int, default=None, help="import only the first N products (quick runs)")
    parser.add_argument("--clients", default="1,8,16,32")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell; the table shows medians")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (the Dockerfile's value)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (the Dockerfile's)")
    parser.add_argument(
        "--scenarios",
        default="product,product-no-fragments,product-uncached,product-log-on,product-log-off,photo,photo-start",
        help="product (similar items and card lists cached as configured), product-no-fragments (card lists "
        "rendered every time), product-uncached (similar-items cache off), product-log-on and product-log-off "
        "(the event log on and off, side by side), photo, photo-start (a web process's memory and first "
        "searches by photo with the model loaded at start and without)",
    )
    parser.add_argument(
        "--also-bought-reads", type=int, default=5000, help="in-process reads of the also-bought list (0: skip)"
    )
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--out", type=Path, default=BASE_DIR / "docs")
    args = parser.parse_args(argv)

    dataset = Path(args.dataset) if "/" in args.dataset else DATA_DIR / args.dataset
    photos = Path(args.photos) if "/" in args.photos else DATA_DIR / args.photos
    photos = photos if photos.is_dir() and (photos / "images").is_dir() else dataset
    if not (dataset / "styles.csv").exists():
        raise SystemExit(f"Benchmark data not found: {dataset}. Set BENCH_DATA_DIR or pass --dataset PATH.")
    clients = [int(value) for value in args.clients.split(",") if value.strip()]
    # In the order given: swapping two scenarios shows whether the machine's load drifted between them.
    scenarios = list(dict.fromkeys(value.strip() for value in args.scenarios.split(",") if value.strip()))
    if not scenarios or set(scenarios) - set(SCENARIOS) - {"photo-start"}:
        raise SystemExit(f"--scenarios takes some of {', '.join(SCENARIOS)}, photo-start")

    started = time.perf_counter()
    load = loadavg()
    database, name, env = scratch_setup(dataset, args.limit)
    results: list[Result] = []
    start_rows: list[dict] = []
    reads: dict = {}
    try:
        ids = product_ids(env)
        if args.also_bought_reads:
            print("== The also-bought read alone", flush=True)
            reads = also_bought_reads(env, args.also_bought_reads, args.seed)
            print(
                f"also-bought read: p50 {reads['p50']:.3f} ms, p95 {reads['p95']:.3f} ms; "
                f"event write: p50 {reads['write_p50']:.3f} ms, p95 {reads['write_p95']:.3f} ms",
                flush=True,
            )
        random.Random(args.seed).shuffle(ids)
        pages = [Request("GET", f"/products/{product_id}/") for product_id in ids]
        plans = {
            "product": pages,
            "product-uncached": pages,
            "product-log-on": pages,
            "product-log-off": pages,
            "product-no-fragments": pages,
            "photo": photo_requests(photos / "images", args.photo_count, args.seed)
            if {"photo", "photo-start"} & set(scenarios)
            else [],
        }
        # One server per scenario, so one scenario's caches and warm-up do not help another.
        for scenario in scenarios:
            if scenario == "photo-start":
                print("== Web process start, with and without the model loaded at start", flush=True)
                start_rows = photo_start(env, plans["photo"], args.workers, args.threads)
                continue
            server, port = server_start({**env, **SCENARIOS[scenario][1]}, args.workers, args.threads)
            try:
                print(f"== Warming up: {SCENARIOS[scenario][0]}", flush=True)
                warm_up(port, plans[scenario], args.workers, args.threads)
                label = SCENARIOS[scenario][0]
                for count in clients:
                    runs = [run_load(port, plans[scenario], count, args.seconds, label) for _ in range(args.repeats)]
                    result = Result(runs)
                    print(
                        f"{label:>30} x{count:<3} {result.rps:8.1f} req/s  p50 {fmt(result.p(50), 1):>7} ms  "
                        f"p95 {fmt(result.p(95), 1):>7} ms  errors {result.errors}",
                        flush=True,
                    )
                    results.append(result)
            finally:
                server_stop(server)
    finally:
        from evaluation import runs

        runs.scratch_database_drop(database, name)

    total = time.perf_counter() - started
    facts = {
        "loadavg": load,
        "total_s": total,
        "workers": args.workers,
        "threads": args.threads,
        "dataset": dataset.name,
        "products": len(ids),
        "seconds": args.seconds,
        "repeats": args.repeats,
        "photos": len(plans["photo"]),
        "photo_dataset": photos.name,
        "history": "400 shoppers",
        "log_cost": (
            "- Event log on vs off (same load, a server each; p50 difference):\n" + logging_cost(results) + "\n"
            if logging_cost(results)
            else ""
        ),
        "also_bought": (
            f'- "Also bought" read alone, in one process: p50 {reads["p50"]:.3f} ms, p95 {reads["p95"]:.3f} ms over '
            f"{reads['reads']:,} reads across the catalogue ({reads['with_list']:.0%} of them with a list); "
            f"the event write alone (a returning anonymous shopper's view, one INSERT committed without waiting "
            f"for the WAL flush): p50 {reads['write_p50']:.3f} ms, p95 {reads['write_p95']:.3f} ms.\n"
            if reads
            else ""
        ),
    }
    command = "python -m benchmarks.pages_load " + " ".join(sys.argv[1:] if argv is None else argv)
    facts["photo_start"] = photo_start_table(start_rows)
    image = plot(results, args.out / "img")
    report = append_report(args.out, results, command.strip(), facts, image)
    print()
    print(table(results))
    print(f"\nDone in {total / 60:.1f} min; appended to {report}, plot {image}.")
    errors = sum(r.errors for r in results)
    if errors:
        print(f"{errors} requests failed: see the table.", file=sys.stderr)


if __name__ == "__main__":
    main()
