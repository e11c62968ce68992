"""What every benchmark report states: the machine, the commit, the load at start."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# The commit a report was made on: the evaluation's helper (full hash, "-dirty" with local changes).
from evaluation.runs import git_commit  # noqa: F401  (re-exported for the benchmarks)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR", BASE_DIR.parent / "shared" / "data"))


def machine() -> str:
    """CPU model and core count, from /proc/cpuinfo where available."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def loadavg() -> str:
    """The 1/5/15-minute load averages: other work on the cores makes absolute numbers noisy."""
    path = Path("/proc/loadavg")
    return " ".join(path.read_text().split()[:3]) if path.exists() else "n/a"


def fmt(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def scratch_database(suffix: str, work_dir: Path) -> tuple[dict, str, dict[str, str]]:
    """A new empty database beside the shop's (`<name><suffix>`) and the environment for manage.py
    subprocesses that use it, with their media under work_dir. Returns (DATABASES entry, name, env)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    from django.conf import settings

    from evaluation import runs

    database = settings.DATABASES["default"]
    name = f"{database['NAME'][: 63 - len(suffix)]}{suffix}"
    runs.scratch_database_create(database, name)
    work_dir.mkdir(parents=True, exist_ok=True)
    env = runs.scratch_environment(database_url_=runs.database_url(database, name), media_root=work_dir / "media")
    return database, name, env


def section_append(out: Path | None, text: str) -> None:
    """Print a run's Markdown section and, with --out, append it to OUT/benchmarks.md."""
    print(text)
    if out is not None:
        with (out / "benchmarks.md").open("a", encoding="utf-8") as file:
            file.write(text)
