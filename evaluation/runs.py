"""What a run needs around it: the commit it ran on, scratch databases and the --dataset steps."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from evaluation.common import SCRATCH_SUFFIX, EvaluationError


def git_commit(directory: Path | None = None) -> str | None:
    """The checked-out commit (with "-dirty" if tracked files changed), or None outside git.

    For evaluation reports and benchmark reports alike; needs no Django settings.
    """
    directory = Path(directory or Path(__file__).resolve().parent.parent)
    try:
        commit = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit or None


def scratch_database_name(name: str) -> str:
    """The scratch database beside `name`: `<name>_eval` (PostgreSQL's 63-byte limit kept)."""
    return f"{name[: 63 - len(SCRATCH_SUFFIX)]}{SCRATCH_SUFFIX}"


def database_url(database: Mapping[str, Any], name: str) -> str:
    """A DATABASE_URL for database `name` with the server and credentials of a DATABASES entry.

    A Unix-socket folder goes percent-encoded in the path before the name, the form
    config/embedded.py writes and django-environ reads.
    """
    user = quote(str(database.get("USER") or ""), safe="")
    password = str(database.get("PASSWORD") or "")
    auth = user + (f":{quote(password, safe='')}" if password else "")
    auth = f"{auth}@" if auth else ""
    host = str(database.get("HOST") or "")
    port = str(database.get("PORT") or "")
    options = {key: value for key, value in (database.get("OPTIONS") or {}).items() if isinstance(value, str | int)}
    query = f"?{urlencode(options)}" if options else ""
    if host.startswith("/"):
        return f"postgres://{auth}:{port or 5432}/{quote(host, safe='')}/{quote(name, safe='')}{query}"
    if ":" in host:
        host = f"[{host}]"
    return f"postgres://{auth}{host}{f':{port}' if port else ''}/{quote(name, safe='')}{query}"


def _maintenance_connection(database: Mapping[str, Any]):
    import psycopg

    params = {
        "dbname": "postgres",
        "user": database.get("USER") or None,
        "password": database.get("PASSWORD") or None,
        "host": database.get("HOST") or None,
        "port": database.get("PORT") or None,
    }
    options = {key: value for key, value in (database.get("OPTIONS") or {}).items() if isinstance(value, str | int)}
    return psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v is not None}, **options)


def scratch_database_create(database: Mapping[str, Any], name: str) -> None:
    """Drop `name` if it exists and create it empty, on the server of `database`."""
    if name == database.get("NAME"):
        raise EvaluationError(f"Refusing to recreate the shop's own database {name!r}.")
    from psycopg import sql

    with _maintenance_connection(database) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def scratch_database_drop(database: Mapping[str, Any], name: str) -> None:
    if name == database.get("NAME"):
        raise EvaluationError(f"Refusing to drop the shop's own database {name!r}.")
    from psycopg import sql

    with _maintenance_connection(database) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def database_exists(database: Mapping[str, Any], name: str) -> bool:
    with _maintenance_connection(database) as connection:
        return connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def scratch_environment(*, database_url_: str, media_root: Path) -> dict[str, str]:
    """Environment for the scratch subprocesses: their own database and media folder.

    The import runs with --no-queue, so no task reaches a worker of the shop (which would look
    the ids up in the shop's database); `embed_products --missing --now` computes them.
    """
    env = dict(os.environ)
    env.update({"DATABASE_URL": database_url_, "MEDIA_ROOT": str(media_root)})
    return env


def dataset_steps(
    *, manage_py: Path, dataset: Path, evaluate_args: Sequence[str]
) -> list[tuple[str, list[str], dict[str, str]]]:
    """The subprocesses of a --dataset run: (title, command, extra environment) for migrate, import,
    embed and evaluate."""
    base = [sys.executable, str(manage_py)]
    return [
        ("Creating the tables", [*base, "migrate", "--no-input", "--verbosity", "0"], {}),
        ("Importing the catalogue", [*base, "import_catalog", str(dataset), "--show", "5", "--no-queue"], {}),
        ("Computing the embeddings", [*base, "embed_products", "--missing", "--now"], {}),
        ("Training the category classifier", [*base, "train_category_classifier", "--skip-if-untrainable"], {}),
        # The first recipe too, so search by photo's variants can compare the two classifiers.
        (
            "Training the catalogue-only classifier (for comparison)",
            [*base, "train_category_classifier", "--recipe", "catalogue", "--skip-if-untrainable"],
            {},
        ),
        ("Evaluating", [*base, "evaluate_recommendations", *evaluate_args], {}),
    ]


# Kaggle-layout folders often have no styles/<id>.json, so no prices; only products with a price
# are recommended, so the scratch copy of such a catalogue gets this one.
SCRATCH_PRICE = "999.00"


def scratch_products_price() -> int:
    """Give the scratch database's products without a price SCRATCH_PRICE; how many there were.

    Refuses any database but a scratch one (`<name>_eval`): the shop's own prices are never touched.
    """
    from decimal import Decimal

    from django.db import connection

    from shop.models import Product

    name = connection.settings_dict["NAME"]
    if not name.endswith(SCRATCH_SUFFIX):
        raise EvaluationError(f"Refusing to set prices outside a scratch database ({name}).")
    return Product.objects.filter(price__isnull=True).update(price=Decimal(SCRATCH_PRICE))
