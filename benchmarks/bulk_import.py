"""Bulk import with the worker: wall time from `import_catalog` start until every product's
embedding is ready, for the real datasets (11,882 products with fashion-sample + fashion-extra).

Run: python -m benchmarks.bulk_import [--datasets fashion-sample,fashion-extra] [--concurrency 2]
     [--out docs]

A scratch database (dropped at the end), a private Valkey and a Celery worker started here as
in production (`celery worker -Q celery,embeddings`); the import enqueues the embeddings as it
goes, so importing and embedding overlap.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import threading
import time
from pathlib import Path

from tqdm import tqdm

from benchmarks.common import BASE_DIR, DATA_DIR, git_commit, loadavg, machine, scratch_database

SCRATCH_SUFFIX = "_bench_import"
WORK_DIR = BASE_DIR / "var" / "bench-import"

STATUS_SQL = "SELECT status, count(*) FROM recommendations_productembedding GROUP BY status"


def connect(database: dict, name: str):
    import psycopg

    params = {key: database.get(source) or None for key, source in (("user", "USER"), ("password", "PASSWORD"))}
    params.update(host=database.get("HOST") or None, port=database.get("PORT") or None, dbname=name)
    return psycopg.connect(autocommit=True, **{key: value for key, value in params.items() if value is not None})


def counts(connection) -> dict[str, int]:
    rows = dict(connection.execute(STATUS_SQL).fetchall())
    rows["products"] = connection.execute("SELECT count(*) FROM shop_product").fetchone()[0]
    return rows


import_errors: list[str] = []


def import_all(manage: list[str], datasets: list[Path], limit: list[str], env: dict[str, str]) -> None:
    for dataset in datasets:
        print(f"== import_catalog {dataset.name}", flush=True)
        result = subprocess.run([*manage, "import_catalog", str(dataset), *limit], env=env, cwd=BASE_DIR)
        if result.returncode:
            import_errors.append(f"{dataset.name}: exit status {result.returncode}")
            return


def plot(phases: dict[str, float], timeline: list[tuple[float, int]], total: int, img_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img_dir.mkdir(parents=True, exist_ok=True)
    path = img_dir / "bulk_import.png"
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot([t for t, _ in timeline], [ready for _, ready in timeline], label="embeddings ready")
    ax.axhline(total, color="grey", linestyle=":", label=f"{total:,} products")
    ax.axvline(phases["import_s"], color="tab:orange", linestyle="--", label="import_catalog finished")
    ax.set(xlabel="seconds since the import started", ylabel="products", title="Bulk import with the worker")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="fashion-sample,fashion-extra", help="folder names under the data dir")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (prefork)")
    parser.add_argument("--limit", type=int, default=None, help="import only the first N rows of each dataset")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds")
    parser.add_argument("--out", type=Path, default=BASE_DIR / "docs")
    args = parser.parse_args(argv)

    datasets = [DATA_DIR / name.strip() for name in args.datasets.split(",") if name.strip()]
    missing = [str(path) for path in datasets if not (path / "styles.csv").exists()]
    if missing:
        raise SystemExit(f"Benchmark data not found: {', '.join(missing)}. Set BENCH_DATA_DIR.")

    database, name, env = scratch_database(SCRATCH_SUFFIX, WORK_DIR)
    from config import embedded
    from evaluation import runs

    broker = embedded.ValkeyServer(embedded.free_port(), WORK_DIR / "valkey").start()
    env.update({"REDIS_URL": broker.url, "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "config.settings.local"})
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    limit = ["--limit", str(args.limit)] if args.limit else []
    load = loadavg()
    worker = None
    timeline: list[tuple[float, int]] = []
    try:
        subprocess.run([*manage, "migrate", "--no-input", "--verbosity", "0"], env=env, cwd=BASE_DIR, check=True)
        worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "config.celery_app", "worker"),
                *("-Q", "celery,embeddings", "--concurrency", str(args.concurrency), "--loglevel", "WARNING"),
            ],
            env=env,
            cwd=BASE_DIR,
        )
        connection = connect(database, name)
        started = time.perf_counter()
        # The imports run one after another in the background while the embeddings are counted.
        imports = threading.Thread(target=import_all, args=(manage, datasets, limit, env), daemon=True)
        imports.start()
        import_s = None
        bar = tqdm(desc="embeddings ready", unit="product")
        while True:
            state = counts(connection)
            ready, failed = state.get("ready", 0), state.get("failed", 0)
            elapsed = time.perf_counter() - started
            timeline.append((elapsed, ready))
            bar.update(ready + failed - bar.n)
            if import_s is None and not imports.is_alive():
                import_s = elapsed
                total = bar.total = counts(connection)["products"]
                bar.write(f"import finished after {import_s:.1f} s: {total:,} products, {ready:,} embeddings ready")
            if (import_s is not None and ready + failed >= total) or elapsed > args.timeout:
                break
            time.sleep(1.0)
        bar.close()
        if import_s is None or import_errors:
            raise SystemExit(f"import_catalog did not finish: {import_errors or 'timed out'}")
        done_s = time.perf_counter() - started
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
        broker.stop()
        runs.scratch_database_drop(database, name)

    phases = {"import_s": import_s, "done_s": done_s}
    timed_out = ready + failed < total
    image = plot(phases, timeline, total, args.out / "img")
    command = "python -m benchmarks.bulk_import " + " ".join(sys.argv[1:] if argv is None else argv)
    rows = (
        "| products | import_catalog s | all embeddings ready s | products/s end to end | failed | worker |\n"
        "| ---: | ---: | ---: | ---: | ---: | --- |\n"
        f"| {total:,} | {import_s:,.1f} | {done_s:,.1f}{' (timed out)' if timed_out else ''} "
        f"| {ready / done_s:,.1f} | {failed} | prefork x{args.concurrency} |"
    )
    section = f"""
## Bulk import, {dt.datetime.now().strftime("%Y-%m-%d %H:%M")} (commit {git_commit() or "unknown"})

- Machine: {machine()}; load average at start {load}.
- Command: `{command.strip()}`; datasets {", ".join(f"`{path.name}`" for path in datasets)}.
- From the start of the first `import_catalog` until every product's embedding is ready (the
  worker embeds while the import runs), one run.

{rows}

![embeddings ready over time]({image.relative_to(args.out).as_posix()})
"""
    with (args.out / "benchmarks.md").open("a") as handle:
        handle.write(section)
    print()
    print(rows)
    print(f"\nAppended to {args.out / 'benchmarks.md'}, plot {image}.")


if __name__ == "__main__":
    main()
