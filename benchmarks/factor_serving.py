"""ALS "recommended for you" served from pgvector: exact scan vs HNSW recall, and the served p50.

    .venv/bin/python -m benchmarks.factor_serving --sizes 2946,11882,100000 --queries 200 --out docs

ALS is trained (the shop's defaults) on the real Online Retail purchases before 2011-10-01; its
product factors fill the first catalogue size as they are (3.6k products). Larger catalogues are
synthetic: product factors drawn from a Gaussian with the real factors' mean and covariance (so
scores have the real spread), all in a scratch database with the project's schema. Query vectors
are real trained shopper factors. For each size: the exact inner-product scan the shop serves
(`recommendations.selectors.FACTOR_NEAREST_SQL`), then an HNSW `vector_ip_ops` index on the same
column at several `hnsw.ef_search`, recall@12 against the exact top 12; and the whole served call
`als_candidates(history=shopper_history(session_key=...))` for anonymous sessions of three new
events each (history query, version, history factors, fold-in of their events, the scan, "because").
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np

from benchmarks.common import BASE_DIR, DATA_DIR, git_commit, loadavg, machine, scratch_database, section_append

SCRATCH_SUFFIX = "_bench_factors"
K = 12
EF_SEARCH = (40, 100, 400)


def trained_factors():
    """ALS with the shop's defaults on Online Retail before October 2011 (the evaluation's training)."""
    from evaluation.interactions import events_from_files
    from recommendations import collaborative, factorisation

    events = events_from_files(DATA_DIR / "interactions" / "online-retail", "online-retail")
    split = datetime(2011, 10, 1, tzinfo=UTC)
    data = collaborative.interaction_matrix(event for event in events if event.created_at < split)
    return factorisation.factorisation_fit(data, factorisation.DEFAULT_ALS)


def catalogue(factors, size: int, rng: np.random.Generator) -> np.ndarray:
    real = factors.item_factors
    if size <= len(real):
        return real[:size]
    mean, covariance = real.mean(axis=0), np.cov(real, rowvar=False)
    extra = rng.multivariate_normal(mean, covariance, size=size - len(real)).astype(np.float32)
    return np.vstack([real, extra])


def load(item_factors: np.ndarray, gramian: np.ndarray) -> tuple[int, list[int]]:
    """Products (one in 20 sold out) and an active als version with their factors; (version id, product ids)."""
    from django.db import connection
    from django.utils import timezone
    from pgvector import Vector

    from recommendations.models import RecommenderModel
    from shop.models import Product

    products = Product.objects.bulk_create(
        [
            Product(sku=f"bf{i}", name=f"Bench {i}", price=Decimal("9.00"), stock=0 if i % 20 == 19 else 10)
            for i in range(len(item_factors))
        ],
        batch_size=5000,
    )
    version = RecommenderModel.objects.create(
        kind="als",
        version=1,
        params={"kind": "als", "factors": item_factors.shape[1], "regularization": 0.05, "alpha": 1.0},
        trained_at=timezone.now(),
        up_to=timezone.now(),
        is_active=True,
        gramian=np.ascontiguousarray(gramian, dtype=np.float64).tobytes(),
    )
    with (
        connection.cursor() as cursor,
        cursor.copy("COPY recommendations_productfactor (model_id, product_id, vector) FROM STDIN") as copy,
    ):
        for product, vector in zip(products, item_factors, strict=True):
            copy.write_row((version.pk, product.pk, Vector(vector).to_text()))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE recommendations_productfactor")
        cursor.execute("VACUUM ANALYZE shop_product")
    return version.pk, [product.pk for product in products]


def exact(version: int, user: np.ndarray) -> list[int]:
    from django.db import connection
    from pgvector import Vector

    from recommendations.selectors import FACTOR_NEAREST_SQL

    with connection.cursor() as cursor:
        cursor.execute(FACTOR_NEAREST_SQL, {"user": Vector(user).to_text(), "model": version, "exclude": [], "k": K})
        return [row[0] for row in cursor.fetchall()]


HNSW_SQL = """
SELECT f.product_id FROM recommendations_productfactor f
JOIN shop_product p ON p.id = f.product_id AND p.is_active AND p.stock > 0 AND p.price IS NOT NULL
WHERE f.model_id = %(model)s
ORDER BY (f.vector::vector({dims})) <#> %(user)s::vector({dims})
LIMIT %(k)s
"""


def timed(function, queries) -> tuple[list[float], list]:
    times, results = [], []
    for query in queries:
        started = time.perf_counter()
        results.append(function(query))
        times.append((time.perf_counter() - started) * 1000)
    return times, results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2946,11882,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None, help="append a section to OUT/benchmarks.md")
    args = parser.parse_args(argv)
    started_at = datetime.now(UTC).replace(microsecond=0)
    load_at_start = loadavg()
    database, name, _ = scratch_database(SCRATCH_SUFFIX, BASE_DIR / "var" / "bench-factors")
    original = dict(database)
    from django.core.management import call_command
    from django.db import connection
    from pgvector import Vector

    rng = np.random.default_rng(0)
    factors = trained_factors()
    users = factors.user_factors[rng.choice(len(factors.user_factors), size=args.queries, replace=False)]
    dims = factors.item_factors.shape[1]
    rows = []
    try:
        connection.close()
        connection.settings_dict["NAME"] = name
        call_command("migrate", verbosity=0)
        from events.models import Interaction
        from recommendations.models import RecommenderModel
        from recommendations.selectors import als_candidates, shopper_history
        from shop.models import Product

        for size in [int(size) for size in args.sizes.split(",")]:
            Interaction.objects.all().delete()
            RecommenderModel.objects.all().delete()
            Product.objects.all().delete()
            items = catalogue(factors, size, rng)
            version, ids = load(items, items.T.astype(np.float64) @ items.astype(np.float64))
            exact_times, exact_lists = timed(lambda user, version=version: exact(version, user), users)
            row = {"size": size, "exact_p50": statistics.median(exact_times)}
            # Anonymous sessions with three new events each: the served call folds them in.
            sessions = [f"bench{i}" for i in range(args.queries)]
            kinds = ("view", "add_to_cart", "purchase")
            Interaction.objects.bulk_create(
                Interaction(session_key=session, product_id=int(pk), kind=kinds[n])
                for session in sessions
                for n, pk in enumerate(rng.choice(ids, size=3, replace=False))
            )
            served_times, served = timed(
                lambda session: als_candidates(history=shopper_history(session_key=session), k=K, exclude=set()),
                sessions,
            )
            assert all(len(items) == K for items in served)
            row["served_p50"] = statistics.median(served_times)
            with connection.cursor() as cursor:
                cursor.execute("SET maintenance_work_mem = '512MB'")
                started = time.perf_counter()
                cursor.execute(
                    f"CREATE INDEX bench_factor_hnsw ON recommendations_productfactor "
                    f"USING hnsw ((vector::vector({dims})) vector_ip_ops)"
                )
                row["build_s"] = time.perf_counter() - started
                for ef in EF_SEARCH:
                    cursor.execute(f"SET hnsw.ef_search = {ef}")
                    sql = HNSW_SQL.format(dims=dims)

                    def approximate(user, cursor=cursor, sql=sql, version=version):
                        cursor.execute(sql, {"user": Vector(user).to_text(), "model": version, "k": K})
                        return [r[0] for r in cursor.fetchall()]

                    times, lists = timed(approximate, users)
                    recall = statistics.fmean(len(set(a) & set(e)) / K for a, e in zip(lists, exact_lists, strict=True))
                    row[f"ef{ef}"] = (statistics.median(times), recall)
                cursor.execute("DROP INDEX bench_factor_hnsw")
                cursor.execute("RESET hnsw.ef_search")
            print(row, flush=True)
            rows.append(row)
    finally:
        connection.close()
        connection.settings_dict["NAME"] = original["NAME"]
        from evaluation import runs

        runs.scratch_database_drop(original, name)

    table = [
        f"| {r['size']:,} | {r['exact_p50']:.2f} | {r['served_p50']:.2f} | {r['build_s']:.1f} | "
        + " | ".join(f"{r[f'ef{ef}'][0]:.2f} / {r[f'ef{ef}'][1]:.3f}" for ef in EF_SEARCH)
        + " |"
        for r in rows
    ]
    section = [
        "",
        f"## ALS served from pgvector: exact scan vs HNSW, {started_at.isoformat()}",
        "",
        f"`python -m benchmarks.factor_serving --sizes {args.sizes} --queries {args.queries}` on {machine()}, "
        f"commit {git_commit()}, load average at start {load_at_start} (shared machine: times are noisy).",
        "",
        f"ALS ({dims} factors, the shop's defaults) trained on Online Retail before 2011-10-01; its 3,6xx real "
        "product factors, the rest synthetic (Gaussian with the real factors' mean and covariance). "
        f"{args.queries} real shopper vectors, top {K}, one in 20 products sold out. Exact: the shop's "
        "scan (`FACTOR_NEAREST_SQL`). Served: the whole `als_candidates` call for an anonymous session with "
        "three new events (history, version, factors, fold-in, scan, reasons). HNSW: `vector_ip_ops`, "
        "m 16, ef_construction 64, p50 ms / recall@12 against the exact list.",
        "",
        "| products | exact p50 ms | served p50 ms (with fold-in) | HNSW build s | "
        + " | ".join(f"ef_search {ef}" for ef in EF_SEARCH)
        + " |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in EF_SEARCH) + " |",
        *table,
        "",
    ]
    section_append(args.out, "\n".join(section))


if __name__ == "__main__":
    main()
