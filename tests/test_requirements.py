"""Every third-party module the code imports is pinned, and what the shop runs is in the runtime file.

requirements.txt is what the shop runs (web, worker, beat, commands, `make demo`);
requirements-dev.txt adds tests, benchmarks, lint and the evaluation's plots.
"""

import ast
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCAL = {"shop", "recommendations", "events", "demo", "evaluation", "config", "tests", "benchmarks", "manage"}
# The code the shop runs; evaluation/ and benchmarks/ are offline tooling, tests/ development.
RUNTIME_FOLDERS = ("shop/", "recommendations/", "events/", "demo/", "config/")


def pinned(file: str) -> set[str]:
    """Canonical names pinned in a requirements file and the files it includes (-r)."""
    names = set()
    for line in (ROOT / file).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            names |= pinned(line[3:].strip())
        elif line:
            names.add(canonical(re.split(r"[\[=<>~!; ]", line, maxsplit=1)[0]))
    return names


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules(prefixes: tuple[str, ...] = ("",)) -> dict[str, set[str]]:
    """Third-party top-level modules imported by tracked Python files: {module: {file, ...}}."""
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    found: dict[str, set[str]] = {}
    for name in tracked.stdout.split():
        if not name.startswith(prefixes):
            continue
        for node in ast.walk(ast.parse((ROOT / name).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in LOCAL and top != "__future__":
                    found.setdefault(top, set()).add(name)
    return found


def unpinned(modules: dict[str, set[str]], pins: set[str]) -> dict[str, set[str]]:
    distributions = packages_distributions()
    return {
        module: files
        for module, files in modules.items()
        if not {canonical(dist) for dist in distributions.get(module, [module])} & pins
    }


def test_every_imported_package_is_pinned():
    assert unpinned(imported_modules(), pinned("requirements-dev.txt")) == {}


def test_the_shop_imports_only_runtime_requirements():
    assert unpinned(imported_modules(RUNTIME_FOLDERS), pinned("requirements.txt")) == {}


def test_development_file_includes_the_runtime_one():
    assert pinned("requirements.txt") <= pinned("requirements-dev.txt")
    assert not pinned("requirements.txt") & {"pytest", "pytest-django", "playwright", "schemathesis", "ruff"}
