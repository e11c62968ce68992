"""Embedding throughput end to end: image files on disk to vectors written in PostgreSQL.

The shipped path, recommendations.services.product_embeddings_compute (images read, decoded and
embedded on two threads, one image per model call, while the calling thread writes the finished
rows 16 per UPDATE), and the previous path (`previous_compute` below, a copy of the service as it
was before: decode every image, embed the batch, then one UPDATE per row) run side by side in one
run, each called once per batch of product ids exactly as the Celery task calls the service, on
scratch products in a scratch database of the embedded server. "No HNSW index" runs the shipped
path with the model's HNSW index dropped and times rebuilding it afterwards (what a bulk load
that builds the index after the load would pay). Variants and batch sizes are interleaved round
by round so that other load on the machine hits them alike; the table gives the median of the
rounds. Also measured: the model alone, one image per call on two interpreters against batched
XNNPACK calls, and Pillow's JPEG draft decoding against the full decode.

Run: python -m benchmarks.embedding_throughput [--images 256] [--resnet-images 64] [--rounds 3] [--out docs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from benchmarks.common import BASE_DIR, DATA_DIR, git_commit, loadavg, machine

SCRATCH_DATABASE = "bench_embedding_throughput"
MEDIA_DIR = BASE_DIR / "var" / "bench-embedding-media"
BATCH_SIZES = (1, 8, 32, 64)


@dataclass
class Variant:
    label: str
    model_name: str
    backend: str
    resnet50_weights: str | None = None
    images: int = 0
    path: str = "new"  # "new" (the shipped service), "previous" (previous_compute), "no-index"
    rates: dict[int, list[float]] = field(default_factory=dict)  # batch size -> images/s per round
    index_build_s: list[float] = field(default_factory=list)  # "no-index": CREATE INDEX after each run
    # batch size -> CPU ms per image per round, this process plus its PostgreSQL backend
    cpu_ms: dict[int, list[float]] = field(default_factory=dict)


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and by its database connection's PostgreSQL backend
    (same machine): what one image costs whatever else runs on the cores, unlike wall time."""
    import resource

    from django.db import connection

    usage = resource.getrusage(resource.RUSAGE_SELF)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return usage.ru_utime + usage.ru_stime + ticks / os.sysconf("SC_CLK_TCK")


def maintenance_connection():
    """An autocommit psycopg connection to the embedded server's `postgres` database (started if needed)."""
    import psycopg

    from config.embedded import postgres_url

    # postgres_url() carries the Unix-socket folder percent-encoded in the path (the form
    # django-environ reads); psycopg wants it as host.
    parts = urlsplit(postgres_url(database="postgres"))
    socket_dir = unquote(parts.path.lstrip("/").rsplit("/", 1)[0])
    return psycopg.connect(
        host=socket_dir, port=parts.port or 5432, user="postgres", dbname="postgres", autocommit=True
    )


def scratch_setup() -> None:
    """Point Django at a fresh scratch database and media folder, then migrate."""
    from psycopg import sql

    from config.embedded import postgres_url

    with maintenance_connection() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(SCRATCH_DATABASE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(SCRATCH_DATABASE)))
    os.environ["DATABASE_URL"] = postgres_url(database=SCRATCH_DATABASE)
    shutil.rmtree(MEDIA_DIR, ignore_errors=True)
    MEDIA_DIR.mkdir(parents=True)
    os.environ["MEDIA_ROOT"] = str(MEDIA_DIR)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def scratch_teardown() -> None:
    from django.db import connections
    from psycopg import sql

    connections.close_all()
    with maintenance_connection() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(SCRATCH_DATABASE)))
    shutil.rmtree(MEDIA_DIR, ignore_errors=True)


def products_create(files: list[Path]) -> list[int]:
    """Scratch products whose images are copies of the files in the scratch media folder."""
    from shop.models import Category, Product

    category = Category.objects.create(name="Bench")
    products = []
    for path in files:
        data = path.read_bytes()
        name = f"products/bench-{path.stem}.jpg"
        (MEDIA_DIR / name).parent.mkdir(parents=True, exist_ok=True)
        (MEDIA_DIR / name).write_bytes(data)
        products.append(
            Product(
                sku=f"BENCH-{path.stem}",
                name=f"Bench {path.stem}",
                category=category,
                image=name,
                image_sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    return [p.pk for p in Product.objects.bulk_create(products)]


def rows_reset(product_ids: list[int], model_name: str) -> None:
    """Pending rows for these products, as product_embedding_schedule leaves them."""
    from django.db.models import F

    from recommendations.models import ProductEmbedding
    from shop.models import Product

    ProductEmbedding.objects.filter(model_name=model_name).delete()
    ProductEmbedding.objects.bulk_create(
        ProductEmbedding(product_id=pid, model_name=model_name, source_sha256=sha)
        for pid, sha in Product.objects.filter(pk__in=product_ids).values_list("pk", "image_sha256")
    )
    assert not ProductEmbedding.objects.filter(model_name=model_name).exclude(source_sha256=F("product__image_sha256"))


def previous_compute(*, product_ids: list[int], model_name: str) -> dict[str, int]:
    """The service as it was before the overlapped path (commit b4e3d89), for the side-by-side
    comparison: decode every image, embed them all, then one UPDATE per row."""
    import numpy as np
    from django.conf import settings
    from django.db.models import F
    from django.utils import timezone

    from recommendations.colours import image_colour_lab
    from recommendations.models import ProductEmbedding
    from recommendations.services import embedder_get
    from shop.images import load_image

    counts = {"ready": 0, "failed": 0, "skipped": 0}
    rows = list(
        ProductEmbedding.objects.filter(product_id__in=product_ids, model_name=model_name)
        .select_related("product")
        .order_by("product_id")
    )
    todo = []
    for row in rows:
        with row.product.image.open("rb") as file:
            todo.append((row, load_image(file.read())))
    if todo:
        vectors = embedder_get(model_name).embed([image for _, image in todo], batch_size=settings.EMBEDDING_BATCH_SIZE)
        now = timezone.now()
        for (row, image), vector in zip(todo, vectors, strict=True):
            updated = ProductEmbedding.objects.filter(pk=row.pk, source_sha256=row.source_sha256).update(
                status=ProductEmbedding.Status.READY,
                vector=vector.astype(np.float32),
                colour_lab=list(image_colour_lab(image)),
                error="",
                computed_at=now,
                attempts=F("attempts") + 1,
                updated_at=now,
            )
            counts["ready" if updated else "skipped"] += 1
    return counts


def hnsw_index_sql(model_name: str) -> tuple[str, str]:
    """(DROP, CREATE) statements of the model's HNSW index, the CREATE as the migration made it."""
    from django.db import connection

    from recommendations.models import ProductEmbedding

    name = {"efficientnet_lite0": "embedding_lite0_hnsw", "resnet50": "embedding_resnet50_hnsw"}[model_name]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef(%s::regclass)", [name])
        (create,) = cursor.fetchone()
    assert ProductEmbedding._meta.db_table in create
    return f"DROP INDEX {name}", create


def run_once(variant: Variant, product_ids: list[int], batch_size: int) -> float:
    """Images/s of one pass over the products, one service call per batch, as the task makes it."""
    from django.conf import settings
    from django.db import connection

    from recommendations.models import ProductEmbedding
    from recommendations.services import product_embeddings_compute

    settings.EMBEDDING_BATCH_SIZE = batch_size
    settings.EMBEDDING_BACKEND = variant.backend
    settings.RESNET50_WEIGHTS = variant.resnet50_weights
    compute = previous_compute if variant.path == "previous" else product_embeddings_compute
    rows_reset(product_ids, variant.model_name)
    drop, create = hnsw_index_sql(variant.model_name)
    if variant.path == "no-index":
        with connection.cursor() as cursor:
            cursor.execute(drop)
    cpu_start = cpu_seconds()
    start = time.perf_counter()
    for first in range(0, len(product_ids), batch_size):
        counts = compute(product_ids=product_ids[first : first + batch_size], model_name=variant.model_name)
        if counts["failed"]:
            raise RuntimeError(f"{variant.label}: {counts['failed']} images failed")
    if variant.path == "no-index":
        built = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(create)
        variant.index_build_s.append(time.perf_counter() - built)
    elapsed = time.perf_counter() - start
    variant.cpu_ms.setdefault(batch_size, []).append(1000 * (cpu_seconds() - cpu_start) / len(product_ids))
    ready = ProductEmbedding.objects.filter(model_name=variant.model_name, status="ready").count()
    if ready != len(product_ids):
        raise RuntimeError(f"{variant.label}: {ready} of {len(product_ids)} rows ready")
    return len(product_ids) / elapsed


def model_only(files: list[Path], rounds: int) -> list[dict]:
    """The Lite0 TFLite model alone on the same preprocessed images: one image per call on two
    single-threaded interpreters (the shipped way) against batched calls (XNNPACK, input resized
    to a batch dimension). Images/s, CPU ms per image (this process's user+system time, less
    sensitive to other load than wall time) and the largest difference to the one-image vectors."""
    import resource
    import threading
    import warnings

    import numpy as np
    import PIL.Image
    import tensorflow as tf

    from recommendations.embeddings import EFFICIENTNET_LITE0, lite0_tflite_path, preprocess

    path = str(lite0_tflite_path(cache_dir=_model_cache()))
    pixels = np.stack([preprocess(PIL.Image.open(f), EFFICIENTNET_LITE0) for f in files])

    def interpreter(batch: int, threads: int):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            it = tf.lite.Interpreter(model_path=path, num_threads=threads)
        inp = it.get_input_details()[0]["index"]
        if batch != 1:
            it.resize_tensor_input(inp, [batch, *pixels.shape[1:]])
        it.allocate_tensors()
        out = it.get_output_details()[0]["index"]

        def run(x):
            it.set_tensor(inp, x)
            it.invoke()
            return it.get_tensor(out).copy()

        return run

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    configs = [  # (label, interpreters, batch, threads per interpreter)
        ("one image per call, 2 interpreters x 1 thread (shipped)", 2, 1, 1),
        ("batch 16, 2 interpreters x 1 thread", 2, 16, 1),
        ("batch 32, 1 interpreter x 2 threads", 1, 32, 2),
        ("batch 64, 1 interpreter x 2 threads", 1, 64, 2),
    ]
    n = len(pixels) - len(pixels) % 64
    runners = {c[0]: [interpreter(c[2], c[3]) for _ in range(c[1])] for c in configs}
    reference = np.concatenate([runners[configs[0][0]][0](pixels[i : i + 1]) for i in range(n)])
    results = {c[0]: {"rates": [], "cpu": [], "diff": 0.0} for c in configs}
    for _ in range(rounds):
        for label, count, batch, _threads in configs:
            chunks = [(s, pixels[s : s + batch]) for s in range(0, n, batch)]
            out = np.empty_like(reference)

            def work(i: int, chunks=chunks, label=label, count=count, out=out) -> None:
                for s, chunk in chunks[i::count]:
                    out[s : s + len(chunk)] = runners[label][i](chunk)

            wall, used = time.perf_counter(), cpu()
            threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall, used = time.perf_counter() - wall, cpu() - used
            results[label]["rates"].append(n / wall)
            results[label]["cpu"].append(1000 * used / n)
            results[label]["diff"] = max(results[label]["diff"], float(np.abs(out - reference).max()))
    return [
        {
            "label": label,
            "rate": statistics.median(r["rates"]),
            "cpu_ms": statistics.median(r["cpu"]),
            "diff": r["diff"],
        }
        for label, r in results.items()
    ]


def draft_decode(files: list[Path]) -> dict[str, float]:
    """Pillow's JPEG draft mode against the full decode, on real photos scaled up 4x (900x1200,
    JPEG quality 90: the catalogue's own 225x300 files are too small for draft to reduce).
    Decode ms per image and the cosine between the two vectors of each image."""
    import io

    import numpy as np
    import PIL.Image

    from recommendations.embeddings import _RESIZE_SHORTER_TO, INPUT_SIZE
    from recommendations.services import embedder_get

    big = []
    for path in files:
        image = PIL.Image.open(path).convert("RGB")
        image = image.resize((image.width * 4, image.height * 4), PIL.Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        big.append(buffer.getvalue())

    def full(data: bytes):
        image = PIL.Image.open(io.BytesIO(data))
        image.load()
        return image.convert("RGB")

    def draft(data: bytes):
        image = PIL.Image.open(io.BytesIO(data))
        scale = min(image.size) * INPUT_SIZE / _RESIZE_SHORTER_TO / INPUT_SIZE  # crop side / 224
        image.draft("RGB", (int(image.width / scale), int(image.height / scale)))
        image.load()
        return image.convert("RGB")

    out = {}
    images = {}
    for fn in (full, draft):
        start = time.perf_counter()
        images[fn.__name__] = [fn(data) for data in big]
        out[f"{fn.__name__} decode ms"] = 1000 * (time.perf_counter() - start) / len(big)
    embedder = embedder_get("efficientnet_lite0")
    cosine = np.sum(embedder.embed(images["full"]) * embedder.embed(images["draft"]), axis=1)
    out["cosine min"] = float(cosine.min())
    out["cosine median"] = float(np.median(cosine))
    out["images"] = len(big)
    return out


def _model_cache() -> Path:
    from django.conf import settings

    return Path(settings.EMBEDDING_MODEL_CACHE)


def stages(product_ids: list[int]) -> dict[str, float]:
    """Milliseconds per image of each stage of the default path, run separately, one thread."""
    import numpy as np

    from recommendations.embeddings import preprocess
    from recommendations.models import ProductEmbedding
    from recommendations.services import EMBEDDING_WRITE_CHUNK, _Embedded, _embeddings_store, embedder_get
    from shop.images import load_image
    from shop.models import Product

    products = list(Product.objects.filter(pk__in=product_ids).order_by("pk"))
    n = len(products)
    t0 = time.perf_counter()
    raw = []
    for product in products:
        with product.image.open("rb") as fh:
            raw.append(fh.read())
    t1 = time.perf_counter()
    images = [load_image(data) for data in raw]
    t2 = time.perf_counter()
    embedder = embedder_get()
    for image in images:
        preprocess(image, embedder.name)
    t3 = time.perf_counter()
    vectors = [embedder.embed_one(image) for image in images]
    t4 = time.perf_counter()
    rows = list(ProductEmbedding.objects.filter(product_id__in=product_ids, model_name=embedder.name).order_by("pk"))
    t5 = time.perf_counter()
    half = len(rows) // 2
    for row, vector in zip(rows[:half], vectors, strict=False):  # the previous path: one UPDATE per row
        ProductEmbedding.objects.filter(pk=row.pk).update(status="ready", vector=np.asarray(vector))
    t6 = time.perf_counter()
    pairs = zip(rows[half:], vectors[half:], strict=True)
    rest = [_Embedded(row, vector=vector, colour_lab=(50.0, 0.0, 0.0)) for row, vector in pairs]
    for first in range(0, len(rest), EMBEDDING_WRITE_CHUNK):  # the shipped path
        _embeddings_store(rest[first : first + EMBEDDING_WRITE_CHUNK])
    t7 = time.perf_counter()
    return {
        "read file": 1000 * (t1 - t0) / n,
        "decode (load_image)": 1000 * (t2 - t1) / n,
        "preprocess alone (crop, resize, scale)": 1000 * (t3 - t2) / n,
        "embed (preprocess + model, one thread)": 1000 * (t4 - t3) / n,
        "select rows": 1000 * (t5 - t4) / n,
        "UPDATE one row, autocommit (previous path)": 1000 * (t6 - t5) / half,
        f"UPDATE {EMBEDDING_WRITE_CHUNK} rows per statement (shipped path)": 1000 * (t7 - t6) / (len(rows) - half),
    }


# --- report --------------------------------------------------------------------------------------


def table(variants: list[Variant]) -> str:
    head = "| variant | images | " + " | ".join(f"batch {b}" for b in BATCH_SIZES) + " |"
    lines = [head, "|" + " --- |" * (2 + len(BATCH_SIZES))]
    for v in variants:
        cells = [f"{statistics.median(v.rates[b]):.1f}" if v.rates.get(b) else "" for b in BATCH_SIZES]
        lines.append(f"| {v.label} | {v.images} | " + " | ".join(cells) + " |")
    new, previous = variants[0], variants[1]
    ratios = [f"{statistics.median(new.rates[b]) / statistics.median(previous.rates[b]):.2f}x" for b in BATCH_SIZES]
    lines.append(f"| ratio {new.label} / {previous.label} | | " + " | ".join(ratios) + " |")
    lines += ["", "CPU ms per image (this process and its PostgreSQL backend; median of the rounds):", "", head]
    lines.append("|" + " --- |" * (2 + len(BATCH_SIZES)))
    for v in variants:
        cells = [f"{statistics.median(v.cpu_ms[b]):.1f}" if v.cpu_ms.get(b) else "" for b in BATCH_SIZES]
        lines.append(f"| {v.label} | {v.images} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(variants: list[Variant], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4), layout="constrained")
    for v in variants:
        sizes = [b for b in BATCH_SIZES if v.rates.get(b)]
        medians = [statistics.median(v.rates[b]) for b in sizes]
        low = [min(v.rates[b]) for b in sizes]
        high = [max(v.rates[b]) for b in sizes]
        axes.plot(sizes, medians, marker="o", label=v.label)
        axes.fill_between(sizes, low, high, alpha=0.15)
    axes.set_xscale("log", base=2)
    axes.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
    axes.set_xlabel("batch size (product ids per task)")
    axes.set_ylabel("images/s, file to PostgreSQL row (median; band = min-max)")
    axes.set_title("Embedding throughput end to end (loaded shared machine)", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def append_report(
    out_dir: Path,
    variants: list[Variant],
    stage_ms: dict[str, float],
    models: list[dict],
    draft: dict[str, float],
    args: argparse.Namespace,
    load_start: str,
) -> None:
    img = out_dir / "img" / "embedding_throughput.png"
    plot(variants, img)
    load = loadavg()
    stage_lines = "\n".join(f"| {name} | {ms:.2f} |" for name, ms in stage_ms.items())
    model_lines = "\n".join(f"| {m['label']} | {m['rate']:.1f} | {m['cpu_ms']:.2f} | {m['diff']:.1e} |" for m in models)
    builds = next((v.index_build_s for v in variants if v.path == "no-index"), [])
    section = f"""
## Embedding throughput, {dt.datetime.now().strftime("%Y-%m-%d %H:%M")} (commit {git_commit() or "unknown"})

Machine: {machine()}; load average {load_start} at the start, {load} at the end: a loaded machine
shared with other engineers' jobs, so compare the rows of one run (the ratios), not runs. Command:
`python -m benchmarks.embedding_throughput --images {args.images} --resnet-images {args.resnet_images} \
--rounds {args.rounds}`

Images per second from image files in storage to vectors in PostgreSQL, called once per batch of
product ids (as the Celery task calls the service), fashion-sample JPEGs (225x300); median of
{args.rounds} interleaved rounds. "Shipped" is `product_embeddings_compute` (decode and model on two
threads, one image per model call, the calling thread writing 16 rows per UPDATE meanwhile);
"previous" is the service before it (`previous_compute`: decode all, embed all, one UPDATE per row).
"No HNSW index" is the shipped path with the index dropped, its figure including the index rebuilt
afterwards ({", ".join(f"{b:.2f}" for b in builds)} s per rebuild of {variants[0].images} rows).
ResNet50 (shipped path) has random weights (same speed).

{table(variants)}

![throughput]({img.relative_to(out_dir).as_posix()})

Where the time of the shipped path goes (ms per image, {args.images} images, each stage run
alone in one thread):

| stage | ms/image |
| --- | --- |
{stage_lines}

The model alone, same {len(models) and args.images - args.images % 64} preprocessed images, TFLite
(XNNPACK, fp32); CPU ms per image is this process's user+system time divided by the images, less
sensitive to other load than images/s; "max diff" is the largest difference of any component to
the one-image-per-call output (0: the same bits):

| model call | images/s | CPU ms/image | max diff |
| --- | ---: | ---: | ---: |
{model_lines}

Pillow's JPEG draft decoding (decode at 1/2, 1/4 or 1/8 scale before the resize), on
{draft["images"]} real photos scaled up 4x to 900x1200 (the catalogue's 225x300 files are too small
for draft to reduce anything): full decode {draft["full decode ms"]:.2f} ms, draft
{draft["draft decode ms"]:.2f} ms per image; cosine between the two vectors of an image: min
{draft["cosine min"]:.6f}, median {draft["cosine median"]:.6f}.
"""
    report = out_dir / "benchmarks.md"
    if not report.exists():
        report.write_text("# Benchmarks\n")
    with report.open("a") as fh:
        fh.write(section)
    print(f"Appended to {report}; plot {img}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256, help="images for the Lite0 variants")
    parser.add_argument("--resnet-images", type=int, default=64, help="images for ResNet50 (slow; 0 leaves it out)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=BASE_DIR / "docs", help="where benchmarks.md and img/ go")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    folder = DATA_DIR / "fashion-sample" / "images"
    if not folder.is_dir():
        raise SystemExit(f"Benchmark data not found: {folder}. Set BENCH_DATA_DIR.")
    from tqdm import tqdm

    load_start = loadavg()
    files = sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem))[: args.images]
    scratch_setup()
    try:
        ids = products_create(files)
        lite0 = ("efficientnet_lite0", "tflite")
        variants = [
            Variant("Lite0 shipped", *lite0, images=len(ids)),
            Variant("Lite0 previous", *lite0, images=len(ids), path="previous"),
            Variant("Lite0 shipped, no HNSW index (+ rebuild)", *lite0, images=len(ids), path="no-index"),
        ]
        if args.resnet_images:
            n = min(args.resnet_images, len(ids))
            variants.append(Variant("ResNet50 Keras shipped (random weights)", "resnet50", "keras", images=n))
        for v in variants:  # build every model (and convert Lite0 once) outside the timings
            run_once(v, ids[:2], 1)
            v.index_build_s.clear()
            v.cpu_ms.clear()
        total = args.rounds * len(variants) * len(BATCH_SIZES)
        with tqdm(total=total, desc="runs", unit="run") as bar:
            for _ in range(args.rounds):
                for v in variants:
                    for b in BATCH_SIZES:
                        rate = run_once(v, ids[: v.images], b)
                        v.rates.setdefault(b, []).append(rate)
                        bar.set_postfix_str(f"{v.label} b{b}: {rate:.1f}/s")
                        bar.update()
        from django.conf import settings

        settings.EMBEDDING_BACKEND = "tflite"
        rows_reset(ids, "efficientnet_lite0")
        stage_ms = stages(ids)
        models = model_only(files, args.rounds)
        draft = draft_decode(files[:64])
        print(table(variants))
        for name, ms in stage_ms.items():
            print(f"{name:45s} {ms:7.2f} ms/image")
        for m in models:
            print(f"{m['label']:60s} {m['rate']:6.1f}/s {m['cpu_ms']:6.2f} CPU ms/image max diff {m['diff']:.1e}")
        print("draft decode:", draft)
        append_report(args.out, variants, stage_ms, models, draft, args, load_start)
    finally:
        scratch_teardown()


if __name__ == "__main__":
    main()
