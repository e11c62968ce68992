"""Bulk import with the worker: wall time from `import_catalog` start until every product is
embedded and thumbnailed, for the real datasets (11,882 products with fashion-sample + fashion-extra),
the current code and a baseline commit side by side in one run.

Run: python -m benchmarks.bulk_import [--datasets fashion-sample,fashion-extra] [--concurrency 2]
     [--baseline b4e3d89] [--out docs]

Each code version gets a scratch database (dropped at the end), a private Valkey and a Celery
worker started here as in production (`celery worker -Q celery,embeddings`); the import enqueues
the embeddings and thumbnails as it goes, so importing and the worker overlap. The baseline is
the tree of `--baseline` (default: the commit before the overlapped embedding path) extracted with
`git archive` under var/, run with the same interpreter, model cache, data and machine; the
baseline runs first, then the current code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from tqdm import tqdm

from benchmarks.common import BASE_DIR, DATA_DIR, git_commit, loadavg, machine, scratch_database

SCRATCH_SUFFIX = "_bench_import"
WORK_DIR = BASE_DIR / "var" / "bench-import"

# The commit before the overlapped embedding path (what the side-by-side run compares with).
BASELINE = "b4e3d89"

STATUS_SQL = "SELECT status, count(*) FROM recommendations_productembedding GROUP BY status"


def connect(database: dict, name: str):
    import psycopg

    params = {key: database.get(source) or None for key, source in (("user", "USER"), ("password", "PASSWORD"))}
    params.update(host=database.get("HOST") or None, port=database.get("PORT") or None, dbname=name)
    return psycopg.connect(autocommit=True, **{key: value for key, value in params.items() if value is not None})


def counts(connection) -> dict[str, int]:
    rows = dict(connection.execute(STATUS_SQL).fetchall())
    rows["products"] = connection.execute("SELECT count(*) FROM shop_product").fetchone()[0]
    # A failed thumbnail is recorded the same way (the sha, no file): done either way.
    rows["thumbnailed"] = connection.execute(
        "SELECT count(*) FROM shop_product WHERE thumbnail_sha256 = image_sha256"
    ).fetchone()[0]
    return rows


import_errors: list[str] = []


def import_all(manage: list[str], datasets: list[Path], limit: list[str], env: dict[str, str], cwd: Path) -> None:
    for dataset in datasets:
        print(f"== import_catalog {dataset.name}", flush=True)
        result = subprocess.run([*manage, "import_catalog", str(dataset), *limit], env=env, cwd=cwd)
        if result.returncode:
            import_errors.append(f"{dataset.name}: exit status {result.returncode}")
            return


def plot(results: list[dict], img_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img_dir.mkdir(parents=True, exist_ok=True)
    path = img_dir / "bulk_import.png"
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for n, r in enumerate(results):
        colour = f"C{n}"
        ax.plot([t for t, _ in r["timeline"]], [ready for _, ready in r["timeline"]], color=colour, label=r["label"])
        ax.axvline(r["import_s"], color=colour, linestyle="--", alpha=0.6, label=f"{r['label']}: import finished")
    ax.axhline(results[-1]["total"], color="grey", linestyle=":", label=f"{results[-1]['total']:,} products")
    ax.set(xlabel="seconds since the import started", ylabel="embeddings ready", title="Bulk import with the worker")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def measure(code_dir: Path, datasets: list[Path], args: argparse.Namespace, label: str) -> dict:
    """One import of the datasets by the code in code_dir, with its own worker, broker and database."""
    database, name, env = scratch_database(SCRATCH_SUFFIX, WORK_DIR / label)
    from config import embedded
    from evaluation import runs

    broker = embedded.ValkeyServer(embedded.free_port(), WORK_DIR / label / "valkey").start()
    env.update(
        {
            "REDIS_URL": broker.url,
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            # One converted model for both versions (the file name carries weights, TF and recipe).
            "EMBEDDING_MODEL_CACHE": str(BASE_DIR / "var" / "model-cache"),
        }
    )
    manage = [sys.executable, str(code_dir / "manage.py")]
    limit = ["--limit", str(args.limit)] if args.limit else []
    load = loadavg()
    worker = None
    timeline: list[tuple[float, int]] = []
    import_errors.clear()
    try:
        subprocess.run([*manage, "migrate", "--no-input", "--verbosity", "0"], env=env, cwd=code_dir, check=True)
        worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "config.celery_app", "worker"),
                *("-Q", "celery,embeddings", "--concurrency", str(args.concurrency), "--loglevel", "WARNING"),
            ],
            env=env,
            cwd=code_dir,
        )
        connection = connect(database, name)
        started = time.perf_counter()
        # The imports run one after another in the background while the embeddings are counted.
        imports = threading.Thread(target=import_all, args=(manage, datasets, limit, env, code_dir), daemon=True)
        imports.start()
        import_s = embedded_s = None
        total = 0
        bar = tqdm(desc=f"{label}: embedded", unit="product")
        while True:
            state = counts(connection)
            ready, failed, thumbs = state.get("ready", 0), state.get("failed", 0), state["thumbnailed"]
            elapsed = time.perf_counter() - started
            timeline.append((elapsed, ready))
            bar.update(ready + failed - bar.n)
            if import_s is None and not imports.is_alive():
                import_s = elapsed
                total = bar.total = counts(connection)["products"]
                bar.write(f"import finished after {import_s:.1f} s: {total:,} products, {ready:,} embeddings ready")
            if import_s is not None and embedded_s is None and ready + failed >= total:
                embedded_s = elapsed
            if (import_s is not None and ready + failed >= total and thumbs >= total) or elapsed > args.timeout:
                break
            time.sleep(1.0)
        bar.close()
        if import_s is None or import_errors:
            raise SystemExit(f"{label}: import_catalog did not finish: {import_errors or 'timed out'}")
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
    return {
        "label": label,
        "load": load,
        "total": total,
        "import_s": import_s,
        "embedded_s": embedded_s,
        "done_s": done_s,
        "ready": ready,
        "failed": failed,
        "thumbnailed": thumbs,
        "timed_out": ready + failed < total or thumbs < total,
        "timeline": timeline,
    }


def baseline_tree(ref: str) -> Path:
    """The tree of commit `ref`, extracted (read-only use of git) under var/bench-import/baseline-<ref>."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=BASE_DIR, capture_output=True, text=True, check=True
    ).stdout.strip()
    folder = WORK_DIR / f"baseline-{commit[:12]}"
    if not (folder / "manage.py").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        archive = subprocess.Popen(["git", "archive", commit], cwd=BASE_DIR, stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(folder)], stdin=archive.stdout, check=True)
        if archive.wait():
            raise SystemExit(f"git archive {commit} failed")
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="fashion-sample,fashion-extra", help="folder names under the data dir")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (prefork)")
    parser.add_argument("--limit", type=int, default=None, help="import only the first N rows of each dataset")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds")
    parser.add_argument(
        "--baseline",
        default=BASELINE,
        help=f"commit to compare with (default {BASELINE}, before the overlapped embedding path); '' for none",
    )
    parser.add_argument("--out", type=Path, default=BASE_DIR / "docs")
    args = parser.parse_args(argv)

    datasets = [DATA_DIR / name.strip() for name in args.datasets.split(",") if name.strip()]
    missing = [str(path) for path in datasets if not (path / "styles.csv").exists()]
    if missing:
        raise SystemExit(f"Benchmark data not found: {', '.join(missing)}. Set BENCH_DATA_DIR.")
    versions = [(baseline_tree(args.baseline), f"baseline {args.baseline}")] if args.baseline else []
    versions.append((BASE_DIR, "current"))
    results = []
    for code_dir, label in versions:
        if code_dir == BASE_DIR:  # the commit the current code's phase really ran (read when it starts)
            label = f"current {(git_commit() or 'unknown')[:12]}"
        results.append(measure(code_dir, datasets, args, label.split()[0]) | {"label": label})

    image = plot(results, args.out / "img")
    command = "python -m benchmarks.bulk_import " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        "| code | products | import_catalog s | all embedded s | all embedded and thumbnailed s "
        "| products/s end to end | failed | load average at start |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['label']} | {r['total']:,} | {r['import_s']:,.1f} | {r['embedded_s'] or float('nan'):,.1f} "
            f"| {r['done_s']:,.1f}{' (timed out)' if r['timed_out'] else ''} | {r['total'] / r['done_s']:,.1f} "
            f"| {r['failed']} | {r['load']} |"
        )
    if len(results) == 2:
        old, new = results
        lines.append(
            f"| ratio baseline / current | | {old['import_s'] / new['import_s']:.2f}x "
            f"| {old['embedded_s'] / new['embedded_s']:.2f}x | {old['done_s'] / new['done_s']:.2f}x | | | |"
        )
    rows = "\n".join(lines)
    section = f"""
## Bulk import, {dt.datetime.now().strftime("%Y-%m-%d %H:%M")} (commit {git_commit() or "unknown"})

- Machine: {machine()}, shared with other engineers' jobs (loaded-machine figures: compare the
  rows of this run, not runs).
- Command: `{command.strip()}`; datasets {", ".join(f"`{path.name}`" for path in datasets)}.
- From the start of the first `import_catalog` until every product's embedding is ready (or
  failed) and every thumbnail is made (the worker, prefork x{args.concurrency}, works while the
  import runs), one run per code version, the baseline first.

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
