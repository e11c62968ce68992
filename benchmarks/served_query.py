"""The similar-items query the shop serves, timed end to end on real products.

`benchmarks/vector_search.py` times a bare `ORDER BY ... LIMIT` over a table of vectors. A product
page runs more: the product's own vector, then one filtered HNSW query per catalogue tier (same
article type and gender, same type, same sub-category, anything) joined to the products for
`is_active`, stock and price, each a relaxed-order iterative scan, and the colour re-ranking of a
larger pool. This benchmark imports real products (the styles.csv labels and the cached real
vectors of benchmarks/vector_search.py) into a scratch database with the project's own schema and
times `recommendations.selectors._similar_ranked` (the uncached path of `product_similar_list`)
for sampled products and for every product of a small article type (its tiers run past the
article type: the tail), at several `hnsw.max_scan_tuples`. "exact tiers" is the same list with
index scans turned off (each tier an exact scan): the served list's agreement with it is its
recall@5. One in 20 products is sold out, so the stock filter has work to do.

    .venv/bin/python -m benchmarks.served_query --sizes 2946,11882,100000 --out docs
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np

from benchmarks import vector_search
from benchmarks.common import BASE_DIR, DATA_DIR, fmt, git_commit, loadavg, machine, scratch_database, section_append
from benchmarks.vector_search import DATASETS, copy_binary_rows, image_files, real_vectors, synthetic_vectors

SCRATCH_SUFFIX = "_bench_served"
SMALL_TYPE = 10  # article types with at most this many products are the tail
K = 5
SEED = 20261126
# The served path now (the product's vector read inside each tier's statement) and before (the
# vector read into Python as text and sent back as a parameter), side by side.
PATHS = {"new: vector in SQL": True, "old: vector through Python": False}


def styles(dataset: str) -> dict[int, dict[str, str]]:
    with (DATA_DIR / dataset / "styles.csv").open(encoding="utf-8", newline="") as file:
        return {int(row["id"]): row for row in csv.DictReader(file)}


def load(n: int, *, maintenance_work_mem: str = "1GB") -> list[int]:
    """Products and ready embeddings for the first n real products (sample, then extra); beyond the
    11,882 real ones, synthetic products (benchmarks.vector_search.synthetic_vectors: points between
    real neighbours) labelled as the real product each starts from. Returns their ids."""
    from django.db import connection

    from recommendations.models import ProductEmbedding
    from shop.models import Product
    from shop.services import category_get_or_create

    rows = []
    for dataset in DATASETS:
        labels = styles(dataset)
        rows += [labels[int(path.stem)] for path in image_files(dataset)]
    parents: list[int] = []
    vectors = synthetic_vectors(real_vectors(DATASETS), n, SEED, parents=parents)
    rows = [rows[parent] | ({"id": f"syn-{i}"} if i >= len(rows) else {}) for i, parent in enumerate(parents)]
    categories = {}
    for row in rows:
        key = (row["masterCategory"], row["subCategory"], row["articleType"])
        if key not in categories:
            categories[key] = category_get_or_create(master=key[0], sub=key[1], article=key[2])
    products = Product.objects.bulk_create(
        [
            Product(
                sku=row["id"],
                name=row["productDisplayName"][:300],
                category=categories[(row["masterCategory"], row["subCategory"], row["articleType"])],
                gender=row["gender"],
                base_colour=row["baseColour"],
                usage=row["usage"],
                price=Decimal("999.00"),
                stock=0 if i % 20 == 19 else 10,
            )
            for i, row in enumerate(rows)
        ],
        batch_size=2000,
    )
    table = ProductEmbedding._meta.db_table
    with connection.cursor() as cursor:
        # Inserting into a live HNSW index is slow: load, then build it as the migration defines it.
        cursor.execute("SELECT pg_get_indexdef('embedding_lite0_hnsw'::regclass)")
        (definition,) = cursor.fetchone()
        cursor.execute("DROP INDEX embedding_lite0_hnsw")
        # The vectors go in by binary COPY (a million vectors as SQL text would be ~15 GB of it),
        # then into the shop's table in one statement.
        cursor.execute("CREATE TEMPORARY TABLE bench_vectors (id bigint, embedding vector(1280))")
        with cursor.cursor.copy("COPY bench_vectors (id, embedding) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big"))
            ids = np.asarray([product.pk for product in products], dtype=np.int64)
            for start in range(0, len(vectors), 5_000):
                rows = copy_binary_rows(vectors[start : start + 5_000])
                rows["id"] = ids[start : start + 5_000]
                copy.write(rows.tobytes())
            copy.write((-1).to_bytes(2, "big", signed=True))
        cursor.execute(
            f"INSERT INTO {table} (product_id, model_name, status, error, source_sha256, vector, attempts, "
            "created_at, updated_at) SELECT id, 'efficientnet_lite0', 'ready', '', 'bench', embedding, 0, now(), "
            "now() FROM bench_vectors"
        )
        cursor.execute("DROP TABLE bench_vectors")
        cursor.execute(f"SET maintenance_work_mem = '{maintenance_work_mem}'")
        cursor.execute(definition)
        cursor.execute("VACUUM ANALYZE shop_product")
        cursor.execute("VACUUM ANALYZE recommendations_productembedding")
    return [product.pk for product in products]


def run_queries(
    products: list, *, max_scan_tuples: int | None, exact: bool = False, vector_in_sql: bool = True
) -> tuple[list[float], dict]:
    """Times (ms) of the uncached served path for each product, and each product's list."""
    from django.db import connection

    from recommendations import selectors
    from recommendations.selectors import _similar_ranked

    selectors.SIMILAR_ITEMS_VECTOR_IN_SQL = vector_in_sql

    with connection.cursor() as cursor:
        cursor.execute("RESET hnsw.max_scan_tuples")
        if max_scan_tuples is not None:
            cursor.execute(f"SET hnsw.max_scan_tuples = {int(max_scan_tuples)}")
        cursor.execute(f"SET enable_indexscan = {'off' if exact else 'on'}")
    for product in products[:3]:  # warm-up
        _similar_ranked(product, K)
    times, lists = [], {}
    for product in products:
        started = time.perf_counter()
        found = _similar_ranked(product, K)
        times.append((time.perf_counter() - started) * 1000)
        lists[product.pk] = [pk for pk, _ in found]
    with connection.cursor() as cursor:
        cursor.execute("RESET enable_indexscan")
        cursor.execute("RESET hnsw.max_scan_tuples")
    return times, lists


def percentiles(values: list[float]) -> tuple[float, float, float]:
    array = np.asarray(values)
    return float(np.percentile(array, 50)), float(np.percentile(array, 95)), float(np.percentile(array, 99))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="2946,11882,100000", help="catalogue sizes (real products, synthetic ones beyond 11,882)"
    )
    parser.add_argument("--queries", type=int, default=200, help="sampled query products per size")
    parser.add_argument("--max-scan-tuples", default="default", help="hnsw.max_scan_tuples values, e.g. default,5000")
    parser.add_argument(
        "--exact-queries",
        type=int,
        default=None,
        help="recall is measured on the first N sampled and N small-type queries (each exact tier scans the "
        "catalogue: seconds per query at a million); default all",
    )
    parser.add_argument(
        "--shared-buffers",
        help="run on a benchmark-only embedded server (var/bench-postgres) with this shared_buffers, e.g. 5GB",
    )
    parser.add_argument("--maintenance-work-mem", default="1GB", help="for the HNSW build; a million needs ~4GB")
    parser.add_argument("--out", type=Path, default=None, help="append a section to OUT/benchmarks.md")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    scans = [None if value == "default" else int(value) for value in args.max_scan_tuples.split(",")]

    started_at = datetime.now(UTC).replace(microsecond=0)
    load_at_start = loadavg()
    database, name, _ = scratch_database(SCRATCH_SUFFIX, BASE_DIR / "var" / "bench-served")
    original = dict(database)
    from django.core.management import call_command
    from django.db import connection

    from evaluation import runs

    if args.shared_buffers:
        # A server of its own, so that the shop's keeps its memory settings (as benchmarks.vector_search).
        runs.scratch_database_drop(original, name)
        vector_search.use_own_server(BASE_DIR / "var" / "bench-postgres", {"shared_buffers": args.shared_buffers})
        own = vector_search.connect_kwargs("postgres")
        database = original | {"HOST": own["host"], "PORT": str(own["port"]), "USER": own["user"], "PASSWORD": ""}
        runs.scratch_database_create(database, name)
        connection.settings_dict.update({key: database[key] for key in ("HOST", "PORT", "USER", "PASSWORD")})

    lines = []
    try:
        connection.close()
        connection.settings_dict["NAME"] = name
        call_command("migrate", verbosity=0)
        from shop.models import Product

        for size in sizes:
            Product.objects.all().delete()
            stage = time.perf_counter()
            print(f"[{size:,}] loading products and vectors, building the HNSW index ...", flush=True)
            ids = load(size, maintenance_work_mem=args.maintenance_work_mem)
            print(f"[{size:,}] loaded in {time.perf_counter() - stage:.0f} s; exact tiers ...", flush=True)
            products = {p.pk: p for p in Product.objects.select_related("category__parent")}  # only these
            rng = np.random.default_rng(0)
            sample = [products[pk] for pk in sorted(rng.choice(ids, size=min(args.queries, len(ids)), replace=False))]
            type_sizes = {}
            for product in products.values():
                type_sizes[product.category_id] = type_sizes.get(product.category_id, 0) + 1
            small = [p for p in products.values() if type_sizes[p.category_id] <= SMALL_TYPE]
            checked = args.exact_queries
            _, exact_sample = run_queries(sample[:checked], max_scan_tuples=None, exact=True)
            _, exact_small = run_queries(small[:checked], max_scan_tuples=None, exact=True)
            print(f"[{size:,}] warming (one untimed pass), then timing the served path ...", flush=True)
            # One untimed pass over every query first: otherwise the path timed first pays for
            # reading the index into memory (at a million, 8.0 against 3.2 ms p50 in one run).
            run_queries(sample + small, max_scan_tuples=None)
            for scan, (path, in_sql) in [(scan, path) for scan in scans for path in PATHS.items()]:
                times, lists = run_queries(sample, max_scan_tuples=scan, vector_in_sql=in_sql)
                small_times, small_lists = run_queries(small, max_scan_tuples=scan, vector_in_sql=in_sql)
                recall = statistics.fmean(len(set(lists[pk]) & set(exact_sample[pk])) / K for pk in exact_sample)
                small_recall = (
                    statistics.fmean(len(set(small_lists[pk]) & set(exact_small[pk])) / K for pk in exact_small)
                    if exact_small
                    else float("nan")
                )
                p50, p95, p99 = percentiles(times)
                # A million products made from 11,882 real ones leave no article type that small.
                tail = (
                    " | ".join([*(fmt(value) for value in percentiles(small_times)), f"{small_recall:.3f}"])
                    if small
                    else "- | - | - | -"
                )
                row = (
                    f"| {size:,} | {path} | {scan if scan is not None else 'default (20,000)'} | {fmt(p50)} | "
                    f"{fmt(p95)} | {fmt(p99)} | {recall:.3f} | {len(small)} | {tail} |"
                )
                print(row, flush=True)
                lines.append(row)
    finally:
        connection.close()
        connection.settings_dict.update(original)
        runs.scratch_database_drop(database, name)
        if args.shared_buffers:  # its memory back to the machine
            from config.embedded import stop_postgres

            stop_postgres(BASE_DIR / "var" / "bench-postgres")

    section = [
        "",
        f"## The served similar-items query, {started_at.isoformat()}",
        "",
        f"`python -m benchmarks.served_query {' '.join(sys.argv[1:] if argv is None else argv)}` on {machine()}, "
        f"commit {git_commit()}, load average at "
        f"start {load_at_start} (the machine was shared with other jobs: absolute times are noisy).",
        "",
        "Whole uncached `_similar_ranked` calls (the product's vector, each tier's filtered HNSW query "
        "with the join, the stock and price filters and the colour pool, in Python through Django), k = 5; "
        f"{args.queries} sampled products, and separately every product of an article type with at most "
        f"{SMALL_TYPE} products (their lists run through several tiers). Recall@5 is against the same tiers "
        "with index scans off (exact)"
        + (f", over the first {args.exact_queries} queries of each group" if args.exact_queries else "")
        + ". Paths: the product's vector read inside each tier's statement (new) "
        "or read into Python and sent back with each tier's query (old), one after the other at each size. "
        f"Beyond {11882:,} products the catalogue is the real products plus synthetic ones (points between "
        "real neighbours, labelled as the real product each starts from).",
        "",
        "| products | path | hnsw.max_scan_tuples | p50 ms | p95 ms | p99 ms | recall@5 | small-type queries | "
        "p50 ms | p95 ms | p99 ms | recall@5 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *lines,
        "",
    ]
    section_append(args.out, "\n".join(section))


if __name__ == "__main__":
    main()
