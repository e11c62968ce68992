"""The purchase-history evaluation's tables (terminal and Markdown) and plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "coverage")
PLOT_INTERACTIONS = "interactions_methods.png"


def methods_table(methods: dict[str, dict[str, float]], k: int, *, markdown: bool = False) -> str:
    headers = ["method", *(f"{name}@{k}" if name != "coverage" else name for name in METRICS)]
    rows = [[name, *(f"{values[metric]:.4f}" for metric in METRICS)] for name, values in methods.items()]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]
    lines = ["  ".join(f"{header:>{width}}" for header, width in zip(headers, widths, strict=True))]
    lines += ["  ".join(f"{value:>{width}}" for value, width in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def interactions_text(report: dict[str, Any], *, markdown: bool = False) -> str:
    run = report["interactions"]
    repeat = report.get("repeat")
    head = (
        f"Purchase history ({run['layout']}, split {run['split']}): {run['train_events']} training events, "
        f"{run['test_users']} test shoppers, k = {run['k']}"
    )
    parts = [head, "", "New products (each list leaves out what the shopper bought before):", ""]
    parts.append(methods_table(run["methods"], run["k"], markdown=markdown))
    blend = run.get("blend")
    if blend:
        tuned = blend["hybrid"]
        parts += [
            "",
            f"hybrid weights (tuned on {tuned['validation']}, {tuned['shoppers']} shoppers, "
            f"NDCG@{run['k']} {tuned['ndcg']}): {_weights(tuned['weights'])}",
            f"served weights (recommendations/blend_weights.json): {_weights(blend['served']['weights'])}",
        ]
    if repeat:
        parts += [
            "",
            f"Repeat purchases included ({repeat['test_users']} test shoppers; lists may hold past purchases):",
            "",
            methods_table(repeat["methods"], run["k"], markdown=markdown),
        ]
    return "\n".join(parts) + "\n"


def _weights(weights: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:g}" for name, value in sorted(weights.items(), key=lambda pair: -pair[1]))


def interactions_plot(report: dict[str, Any], directory: Path) -> str:
    """Grouped bars of precision, recall, NDCG and MAP per method; returns the file name."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    run = report["interactions"]
    names = list(run["methods"])
    shown = ("precision", "recall", "ndcg", "map")
    figure = Figure(figsize=(max(6.5, 1.1 * len(names)), 4.4), layout="constrained")
    axes = figure.add_subplot()
    width = 0.8 / len(shown)
    for index, metric in enumerate(shown):
        values = [run["methods"][name][metric] for name in names]
        positions = [p + (index - (len(shown) - 1) / 2) * width for p in range(len(names))]
        axes.bar(positions, values, width=width, label=f"{metric}@{run['k']}")
    axes.set_xticks(range(len(names)), [name.replace("_", "\n", 1) for name in names], fontsize=8)
    axes.set_ylabel("mean over test shoppers")
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    axes.legend(fontsize=8)
    axes.set_title(
        f"{run['layout']}, split {run['split']}: {run['test_users']} test shoppers, k = {run['k']}", fontsize=10
    )
    FigureCanvasAgg(figure)
    figure.savefig(Path(directory) / PLOT_INTERACTIONS, dpi=110, metadata={"Software": None})
    return PLOT_INTERACTIONS
