"""The purchase-history evaluation's tables (terminal and Markdown) and plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "coverage")
PLOT_INTERACTIONS = "interactions_methods.png"
PLOT_SLICES = "interactions_slices.png"
SHOWN = ("precision", "recall", "ndcg", "map")  # the plotted metrics
SLICE_TITLES = {
    "all": "everyone, as in the table above",
    "cold": "cold: shoppers with at most one product bought before the split",
    "new": "new: products first sold in the test period",
}


def methods_table(methods: dict[str, dict[str, float]], k: int, *, markdown: bool = False) -> str:
    headers = ["method", *(f"{name}@{k}" if name != "coverage" else name for name in METRICS)]
    rows = [[name, *(f"{values[metric]:.4f}" for metric in METRICS)] for name, values in methods.items()]
    return _table(headers, rows, markdown=markdown)


def _table(headers: list[str], rows: list[list[str]], *, markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]
    lines = ["  ".join(f"{header:>{width}}" for header, width in zip(headers, widths, strict=True))]
    lines += ["  ".join(f"{value:>{width}}" for value, width in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def intervals_table(piece: dict[str, Any], k: int, baseline: str, *, markdown: bool = False) -> str:
    """NDCG and MAP with their bootstrap intervals, and each method minus the baseline (paired)."""
    headers = ["method", f"ndcg@{k}", "95% interval", f"map@{k}", "95% interval"]
    headers += [f"ndcg - {baseline}", "95% interval", f"map - {baseline}", "95% interval"]
    rows = []
    for name, values in piece["methods"].items():
        interval = piece["intervals"].get(name, {})
        row = [name]
        for metric in ("ndcg", "map"):
            bounds = interval.get(metric)
            row += [f"{values[metric]:.4f}", f"[{bounds[0]:.4f}, {bounds[1]:.4f}]" if bounds else ""]
        for metric in ("ndcg", "map"):
            difference = interval.get("difference", {}).get(metric)
            if difference:
                row += [f"{difference[0]:+.4f}", f"[{difference[1]:+.4f}, {difference[2]:+.4f}]"]
            else:
                row += ["", ""]  # the baseline itself
        rows.append(row)
    return _table(headers, rows, markdown=markdown)


def slices_text(run: dict[str, Any], *, markdown: bool = False) -> list[str]:
    """Each slice's table (`all`'s metrics are the main table's) and the intervals."""
    bootstrap = run.get("bootstrap", {})
    parts = [
        "",
        f"Slices: every method on other ground truths; intervals: {bootstrap.get('level', 0.95):.0%} percentile "
        f"bootstrap over the slice's shoppers ({bootstrap.get('resamples')} resamples, seed {bootstrap.get('seed')}), "
        f"differences paired shopper by shopper.",
    ]
    for name, piece in run.get("slices", {}).items():
        counts = f"{piece['shoppers']} shoppers, {piece['relevant']} relevant products"
        counts += f", {piece['skipped']} left out with nothing relevant, catalogue {piece['catalogue']} products"
        if "without_training_purchase" in piece:
            counts += f"; {piece['without_training_purchase']} of the shoppers had bought nothing before"
        if "new_products" in piece:
            counts += f"; {piece['new_products']} new products, {piece['not_in_catalogue']} outside the catalogue"
        title = f"Slice `{name}`" if markdown else f"Slice {name}"
        parts += ["", f"{title} ({SLICE_TITLES.get(name, name)}): {counts}.", ""]
        if not piece["shoppers"]:
            parts.append("No shopper in this slice.")
            continue
        if name != "all":
            parts += [methods_table(piece["methods"], run["k"], markdown=markdown), ""]
        parts.append(intervals_table(piece, run["k"], bootstrap.get("baseline", ""), markdown=markdown))
    return parts


def interactions_text(report: dict[str, Any], *, markdown: bool = False) -> str:
    run = report["interactions"]
    repeat = report.get("repeat")
    head = (
        f"Purchase history ({run['layout']}, split {run['split']}): {run['train_events']} training events, "
        f"{run['test_users']} test shoppers, k = {run['k']}"
    )
    parts = [head, "", "New products (each list leaves out what the shopper bought before):", ""]
    parts.append(methods_table(run["methods"], run["k"], markdown=markdown))
    parts += slices_text(run, markdown=markdown)
    blend = run.get("blend")
    if blend and blend.get("hybrid"):
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


def slices_plot(report: dict[str, Any], directory: Path) -> str:
    """One panel per slice: grouped bars of precision, recall, NDCG and MAP per method, with the
    bootstrap intervals as error bars; returns the file name."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    run = report["interactions"]
    slices = run["slices"]
    names = list(run["methods"])
    figure = Figure(figsize=(max(7.0, 1.1 * len(names)), 3.3 * len(slices)), layout="constrained")
    width = 0.8 / len(SHOWN)
    for row, (slice_name, piece) in enumerate(slices.items()):
        axes = figure.add_subplot(len(slices), 1, row + 1)
        for index, metric in enumerate(SHOWN):
            values = np.asarray([piece["methods"][name][metric] for name in names])
            bounds = [piece["intervals"].get(name, {}).get(metric) for name in names]
            low = np.asarray([value - bound[0] if bound else 0.0 for value, bound in zip(values, bounds, strict=True)])
            high = np.asarray([bound[1] - value if bound else 0.0 for value, bound in zip(values, bounds, strict=True)])
            positions = [p + (index - (len(SHOWN) - 1) / 2) * width for p in range(len(names))]
            axes.bar(positions, values, width=width, label=f"{metric}@{run['k']}")
            axes.errorbar(positions, values, yerr=np.clip([low, high], 0, None), fmt="none", ecolor="black",
                          elinewidth=0.7, capsize=1.5)  # fmt: skip
        axes.set_xticks(range(len(names)), [name.replace("_", "\n", 1) for name in names], fontsize=8)
        axes.set_ylabel("mean over shoppers")
        axes.set_ylim(bottom=0)
        axes.grid(axis="y", alpha=0.3)
        axes.set_axisbelow(True)
        axes.set_title(f"slice {slice_name}: {piece['shoppers']} shoppers", fontsize=9)
        if row == 0:
            axes.legend(fontsize=8)
    figure.suptitle(
        f"{run['layout']}, split {run['split']}, k = {run['k']} (bars: 95% bootstrap intervals)", fontsize=10
    )
    FigureCanvasAgg(figure)
    figure.savefig(Path(directory) / PLOT_SLICES, dpi=110, metadata={"Software": None})
    return PLOT_SLICES
