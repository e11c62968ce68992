"""Training time of the collaborative recommenders on the real Online Retail history.

python -m benchmarks.training [--rounds 3] [--out docs]

Reads ../shared/data/interactions/online-retail with the importer's reader (no database: training
works on EventRow lists, as the shop's task does after reading them), then times each training step
of recommendations/collaborative.py: the weighted, decayed shopper x product matrix, the item-item
neighbours of each method (20 per product, the shop's default) and "bought together" from baskets;
and ALS and BPR (recommendations/factorisation.py, the shop's defaults) on that matrix.
Appends a dated section to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from pathlib import Path

from benchmarks.common import BASE_DIR, DATA_DIR, git_commit, loadavg, machine


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per step (the median is reported)")
    parser.add_argument("--out", type=Path, default=BASE_DIR / "docs", help="where benchmarks.md goes")
    return parser.parse_args(argv)


def timed(function, rounds: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    folder = DATA_DIR / "interactions" / "online-retail"
    if not folder.is_dir():
        raise SystemExit(f"Benchmark data not found: {folder}. Set BENCH_DATA_DIR.")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from evaluation.interactions import events_from_files
    from recommendations import collaborative, factorisation

    load_at_start = loadavg()
    started = time.perf_counter()
    events = events_from_files(folder, "online-retail")
    read_seconds = time.perf_counter() - started
    purchases = sum(1 for event in events if event.kind == collaborative.PURCHASE and event.shopper)
    rows: list[tuple[str, float]] = []
    matrix_seconds, data = timed(lambda: collaborative.interaction_matrix(events), args.rounds)
    rows.append(("interaction matrix (weights, decay)", matrix_seconds))
    for method in collaborative.METHODS:
        seconds, _ = timed(lambda method=method: collaborative.item_item_neighbours(data, method=method), args.rounds)
        served = " (served)" if method == collaborative.ALSO_BOUGHT_METHOD else ""
        rows.append((f"item-item neighbours, {method}{served}", seconds))
    seconds, _ = timed(lambda: collaborative.bought_together(events), args.rounds)
    rows.append(("bought together (baskets)", seconds))
    # Matrix factorisation with the shop's defaults, on the same matrix (one BLAS thread, one implicit thread).
    for kind in factorisation.KINDS:
        params = factorisation.DEFAULTS[kind]
        seconds, _ = timed(lambda params=params: factorisation.factorisation_fit(data, params), args.rounds)
        rows.append((f"{kind.upper()} fit ({params.factors} factors, {params.iterations} iterations)", seconds))
    served_total = matrix_seconds + dict(rows)[f"item-item neighbours, {collaborative.ALSO_BOUGHT_METHOD} (served)"]
    table = "\n".join(f"| {name} | {seconds:.2f} |" for name, seconds in rows)
    section = f"""
## Collaborative training, {dt.datetime.now().strftime("%Y-%m-%d %H:%M")} (commit {git_commit()})

Machine: {machine()}; load average {load_at_start} at the start (the machine is shared: other
processes use the cores, so the times are upper bounds). Command: `python -m benchmarks.training
--rounds {args.rounds}`

Online Retail (2010-12-01..2011-10-31): {len(events):,} events read in {read_seconds:.1f} s, of which
{purchases:,} purchases by known customers, {data.matrix.shape[0]:,} shoppers x {data.matrix.shape[1]:,}
products ({data.matrix.nnz:,} non-zero cells). Median of {args.rounds} rounds, seconds, one thread:

| step | seconds |
| --- | --- |
{table}

Training what the shop serves (matrix + {collaborative.ALSO_BOUGHT_METHOD} neighbours): {served_total:.2f} s.
"""
    report = args.out / "benchmarks.md"
    if not report.exists():
        report.write_text("# Benchmarks\n")
    with report.open("a") as fh:
        fh.write(section)
    print(section)
    print(f"Appended to {report}")


if __name__ == "__main__":
    main()
