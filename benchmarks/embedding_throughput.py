"""Embedding throughput end to end: image files on disk to vectors written in PostgreSQL.

Every measured run goes through the shipped path, recommendations.services.
product_embeddings_compute (read the file from storage, decode, preprocess, model, UPDATE
the row), called once per batch of product ids exactly as the Celery task is, on scratch
products in a scratch database of the embedded server. Variants and batch sizes are
interleaved round by round so that other load on the machine hits them alike; the table
gives the median of the rounds.

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

from benchmarks.common import BASE_DIR, DATA_DIR, git_commit, machine

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
    rates: dict[int, list[float]] = field(default_factory=dict)  # batch size -> images/s per round


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


def run_once(variant: Variant, product_ids: list[int], batch_size: int) -> float:
    """Images/s of one pass over the products, one service call per batch, as the task makes it."""
    from django.conf import settings

    from recommendations.models import ProductEmbedding
    from recommendations.services import product_embeddings_compute

    settings.EMBEDDING_BATCH_SIZE = batch_size
    settings.EMBEDDING_BACKEND = variant.backend
    settings.RESNET50_WEIGHTS = variant.resnet50_weights
    rows_reset(product_ids, variant.model_name)
    start = time.perf_counter()
    for first in range(0, len(product_ids), batch_size):
        counts = product_embeddings_compute(
            product_ids=product_ids[first : first + batch_size], model_name=variant.model_name
        )
        if counts["failed"]:
            raise RuntimeError(f"{variant.label}: {counts['failed']} images failed")
    elapsed = time.perf_counter() - start
    ready = ProductEmbedding.objects.filter(model_name=variant.model_name, status="ready").count()
    if ready != len(product_ids):
        raise RuntimeError(f"{variant.label}: {ready} of {len(product_ids)} rows ready")
    return len(product_ids) / elapsed


def stages(product_ids: list[int]) -> dict[str, float]:
    """Milliseconds per image of each stage of the default path at batch 32, run separately."""
    import numpy as np
    from django.db import transaction

    from recommendations.embeddings import preprocess
    from recommendations.models import ProductEmbedding
    from recommendations.services import embedder_get
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
    vectors = embedder.embed(images, batch_size=32)
    t4 = time.perf_counter()
    rows = list(ProductEmbedding.objects.filter(product_id__in=product_ids, model_name=embedder.name))
    t5 = time.perf_counter()
    half = len(rows) // 2
    for row, vector in zip(rows[:half], vectors, strict=False):  # each UPDATE its own commit
        ProductEmbedding.objects.filter(pk=row.pk).update(status="ready", vector=np.asarray(vector))
    t6 = time.perf_counter()
    with transaction.atomic():  # one commit for all: is the per-row commit the cost?
        for row, vector in zip(rows[half:], vectors[half:], strict=False):
            ProductEmbedding.objects.filter(pk=row.pk).update(status="ready", vector=np.asarray(vector))
    t7 = time.perf_counter()
    return {
        "read file": 1000 * (t1 - t0) / n,
        "decode (load_image)": 1000 * (t2 - t1) / n,
        "preprocess alone (crop, resize, scale)": 1000 * (t3 - t2) / n,
        "embed (preprocess + model, 2 threads)": 1000 * (t4 - t3) / n,
        "select rows": 1000 * (t5 - t4) / n,
        "UPDATE one row, autocommit": 1000 * (t6 - t5) / half,
        "UPDATE one row, all in one transaction": 1000 * (t7 - t6) / (len(rows) - half),
    }


# --- report --------------------------------------------------------------------------------------


def table(variants: list[Variant]) -> str:
    head = "| variant | images | " + " | ".join(f"batch {b}" for b in BATCH_SIZES) + " |"
    lines = [head, "|" + " --- |" * (2 + len(BATCH_SIZES))]
    for v in variants:
        cells = [f"{statistics.median(v.rates[b]):.1f}" if v.rates.get(b) else "" for b in BATCH_SIZES]
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
    axes.set_title("Embedding throughput end to end", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def append_report(out_dir: Path, variants: list[Variant], stage_ms: dict[str, float], args: argparse.Namespace) -> None:
    img = out_dir / "img" / "embedding_throughput.png"
    plot(variants, img)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    stage_lines = "\n".join(f"| {name} | {ms:.2f} |" for name, ms in stage_ms.items())
    section = f"""
## Embedding throughput, {dt.datetime.now().strftime("%Y-%m-%d %H:%M")} (commit {git_commit() or "unknown"})

Machine: {machine()}; load average {load:.1f} when the run ended (other processes share the
cores, so compare the columns of one run, not runs). Command:
`python -m benchmarks.embedding_throughput --images {args.images} --resnet-images {args.resnet_images} \
--rounds {args.rounds}`

Images per second from image files in storage to vectors in PostgreSQL, through
`product_embeddings_compute` called once per batch of product ids (as the Celery task is),
fashion-sample JPEGs (225x300); median of {args.rounds} interleaved rounds. "Lite0 Keras" is the
previous default (Keras, `tf.map_fn` one image at a time); ResNet50 has random weights (same speed).

{table(variants)}

![throughput]({img.relative_to(out_dir).as_posix()})

Where the time of the default path goes (ms per image, {args.images} images, stages run
one after another in one thread except the embedding itself):

| stage | ms/image |
| --- | --- |
{stage_lines}
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
    parser.add_argument("--resnet-images", type=int, default=64, help="images for ResNet50 (slow)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=BASE_DIR / "docs", help="where benchmarks.md and img/ go")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    folder = DATA_DIR / "fashion-sample" / "images"
    if not folder.is_dir():
        raise SystemExit(f"Benchmark data not found: {folder}. Set BENCH_DATA_DIR.")
    from tqdm import tqdm

    files = sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem))[: args.images]
    scratch_setup()
    try:
        ids = products_create(files)
        variants = [
            Variant("Lite0 TFLite (default)", "efficientnet_lite0", "tflite", images=len(ids)),
            Variant("Lite0 Keras map_fn (previous)", "efficientnet_lite0", "keras", images=len(ids)),
            Variant("ResNet50 Keras (random weights)", "resnet50", "keras", images=min(args.resnet_images, len(ids))),
        ]
        for v in variants:  # build every model (and convert Lite0 once) outside the timings
            run_once(v, ids[:2], 1)
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
        print(table(variants))
        for name, ms in stage_ms.items():
            print(f"{name:40s} {ms:7.2f} ms/image")
        append_report(args.out, variants, stage_ms, args)
    finally:
        scratch_teardown()


if __name__ == "__main__":
    main()
