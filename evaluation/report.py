"""The report: report.json's dict, the terminal and Markdown tables, the PNG plots."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evaluation.common import (
    LABEL_KEYS,
    PER_GROUP_K,
    PLOT_PER_ARTICLE_TYPE,
    PLOT_PHOTO_PER_LABEL,
    PLOT_PHOTO_VARIANTS,
    PLOT_PHOTO_VARIANTS_PER_LABEL,
    PLOT_PRECISION,
)
from evaluation.runs import git_commit
from evaluation.similar_items import catalogue_products
from recommendations.services import active_model_name
from shop.models import Product


def report_build(
    *,
    similar_items: dict[str, Any],
    photo_search: dict[str, Any] | None,
    command: str,
    dataset: str | None = None,
    elapsed_seconds: float | None = None,
) -> dict[str, Any]:
    """The full report: the numbers plus what produced them (model, catalogue, command, date, commit)."""
    return {
        "model": active_model_name(),
        "catalogue": {
            "dataset": dataset,
            "products": Product.objects.count(),
            "evaluated_catalogue": catalogue_products().count(),
        },
        "command": command,
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "git_commit": git_commit(),
        "elapsed_seconds": None if elapsed_seconds is None else round(elapsed_seconds, 1),
        "similar_items": similar_items,
        "photo_search": photo_search,
    }


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, markdown: bool) -> str:
    cells = [[str(value) for value in row] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])
    widths = [max(len(str(header)), *(len(row[i]) for row in cells)) for i, header in enumerate(headers)]
    lines = ["  ".join(f"{header:>{width}}" for header, width in zip(headers, widths, strict=True))]
    lines += ["  ".join(f"{value:>{width}}" for value, width in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:.3f}"


def similar_items_table(result: dict[str, Any], *, markdown: bool = False) -> str:
    """Shares per k, and a last row for k random products of the product's own article type: what
    the type filter alone guarantees, beside what the ranking adds (colour, usage)."""
    headers = ["k", *(f"same {name}" for name in LABEL_KEYS.values()), "coverage", "Gini"]
    rows = [
        [
            row["k"],
            *(_number(row[f"same_{key}"]) if f"same_{key}" in row else "-" for key in LABEL_KEYS),
            _number(row["coverage"]),
            _number(row["gini"]),
        ]
        for row in result["at_k"]
    ]
    baseline = result.get("random_same_type")
    if baseline:
        rows.append(
            [
                f"{baseline['k']} random of the same articleType",
                *(_number(baseline[f"same_{key}"]) if f"same_{key}" in baseline else "-" for key in LABEL_KEYS),
                "-",
                "-",
            ]
        )
    return _table(headers, rows, markdown=markdown)


def per_article_type_table(rows: Sequence[dict[str, Any]], k: int, *, markdown: bool = False) -> str:
    headers = ["articleType", "subCategory", "products", f"precision@{k}", "best possible"]
    body = [
        [row["article_type"], row["sub_category"], row["products"], _number(row["precision"]), _number(row["ceiling"])]
        for row in rows
    ]
    return _table(headers, body, markdown=markdown)


def photo_search_table(result: dict[str, Any], *, markdown: bool = False) -> str:
    headers = ["k", "precision@k", "hit@k"]
    rows = [[row["k"], _number(row["precision"]), _number(row["hit_rate"])] for row in result["at_k"]]
    return _table(headers, rows, markdown=markdown)


def photo_variants_table(result: dict[str, Any], *, markdown: bool = False) -> str:
    ks = result["k_values"]
    headers = ["variant", "hit@1", *(f"precision@{k}" for k in ks), *(f"hit@{k}" for k in ks if k > 1)]
    headers += ["p50 ms", "p95 ms"]
    rows = []
    for row in result["variants"]:
        by_k = {item["k"]: item for item in row["at_k"]}
        rows.append(
            [
                row["name"] + (" *" if row["served"] else ""),
                _number(row["hit_at_1"]),
                *(_number(by_k[k]["precision"]) for k in ks),
                *(_number(by_k[k]["hit_rate"]) for k in ks if k > 1),
                f"{row['latency_ms']['p50']:.1f}",
                f"{row['latency_ms']['p95']:.1f}",
            ]
        )
    return _table(headers, rows, markdown=markdown)


def _classifier_line(classifier: dict[str, Any] | None) -> str:
    if classifier is None:
        return "No category classifier was stored, so the +category forms searched the whole catalogue."
    metrics = classifier["metrics"]
    accuracy = metrics.get("held_out_accuracy")
    views = metrics.get("held_out_views_accuracy")
    return (
        f"Category classifier: version {classifier['version']} (`{classifier['algorithm']}`), "
        f"{classifier['classes']} article types, {classifier['n_products']} products"
        + (f" and {metrics['views']} augmented views" if metrics.get("views") else "")
        + (f", held-out accuracy on catalogue photos {accuracy:.3f}" if accuracy is not None else "")
        + (f", on their augmented views {views:.3f}" if views is not None else "")
        + (f", trained in {metrics['seconds']} s" if "seconds" in metrics else "")
        + ". "
    )


def per_label_table(rows: Sequence[dict[str, Any]], k: int, *, markdown: bool = False) -> str:
    headers = ["label", "queries", f"precision@{k}", "best possible", "matching articleTypes"]
    body = [
        [
            row["label"],
            row["queries"],
            _number(row["precision"]),
            _number(row["ceiling"]),
            ", ".join(row["article_types"]),
        ]
        for row in rows
    ]
    return _table(headers, body, markdown=markdown)


def report_text(report: dict[str, Any], *, weakest: int = 15) -> str:
    """The terminal summary: the tables, with only the weakest articleTypes that could score 1."""
    similar = report["similar_items"]
    catalogue = report["catalogue"]
    lines = [
        f"{_selector_title(similar)}, leave-one-out: {similar['evaluated']} queries over "
        f"{catalogue['evaluated_catalogue']} products with {report['model']} embeddings ({similar['function']})",
        similar_items_table(similar),
    ]
    k = similar["per_article_type_k"]
    per_type = similar["per_article_type"]
    full = [row for row in per_type if row["ceiling"] == 1]
    below = sorted((row for row in full if row["precision"] < 1), key=lambda r: (r["precision"], r["article_type"]))
    if below:
        lines += [
            "",
            f"Weakest {min(weakest, len(below))} of the {len(full)} articleTypes with more than {k} products"
            f" (precision@{k}):",
            per_article_type_table(below[:weakest], k),
        ]
    elif full:
        lines.append(f"All {len(full)} articleTypes with more than {k} products have precision@{k} 1.000.")
    small = [row for row in per_type if row["ceiling"] < 1]
    if small:
        at_ceiling = sum(1 for row in small if row["precision"] >= row["ceiling"] - 1e-12)
        lines.append(
            f"{len(small)} articleTypes have {k} products or fewer, so precision@{k} cannot reach 1"
            f" ({at_ceiling} of them reach the most they can); all are in report.md."
        )
    photo = report.get("photo_search")
    if photo:
        lines += [
            "",
            f"Search by photo: {photo['evaluated']} of {photo['queries']} queries evaluated, "
            f"hit@1 {_number(photo['hit_at_1'])}",
            photo_search_table(photo),
            "",
            per_label_table(photo["per_label"], photo["per_label_k"]),
        ]
        if photo.get("variants"):
            lines += ["", "Search by photo, variants side by side (same queries):", photo_variants_table(photo)]
        for problem in photo["unreadable"]:
            lines.append(f"Unreadable: {problem['file']} (line {problem['line']}): {problem['reason']}")
        if photo.get("failed"):
            lines += ["", f"{len(photo['failed'])} queries without a match in the served top {photo['per_label_k']}:"]
            lines += [_failure_line(item) for item in photo["failed"]]
        if photo["labels_without_catalogue_match"]:
            lines.append(
                "Labels with no matching articleType in the catalogue: "
                + ", ".join(photo["labels_without_catalogue_match"])
            )
    return "\n".join(lines)


def _selector_title(similar: dict[str, Any]) -> str:
    return "Similar items (raw visual neighbours)" if similar.get("selector") == "visual" else "Similar items"


def report_markdown(report: dict[str, Any], plots: Mapping[str, str]) -> str:
    """report.md: what was measured, the tables and links to the plots."""
    similar = report["similar_items"]
    catalogue = report["catalogue"]
    k = similar["per_article_type_k"]
    lines = [
        "# Recommendation quality",
        "",
        f"- model: `{report['model']}`",
        f"- catalogue: {catalogue['evaluated_catalogue']} active products with a ready embedding"
        f" ({catalogue['products']} products in total)"
        + (f", imported from `{catalogue['dataset']}`" if catalogue["dataset"] else ""),
        f"- command: `{report['command']}`",
        f"- date: {report['created_at']}",
        f"- git commit: `{report['git_commit'] or 'unknown'}`",
        "",
        f"## {_selector_title(similar)} (leave-one-out)",
        "",
        f"Each of {similar['evaluated']} products asks `{similar['function']}` for its k similar items (one"
        " request per k); an item counts when it shares the product's label (shares pooled over all items"
        " shown; products without the label are left out of its share). The list is filtered by"
        " articleType first, so its articleType share is what the filter guarantees; the last row is"
        " the expected share for k random products of the product's own articleType, the baseline for"
        " what the ranking adds (baseColour, usage). Coverage is the share of the"
        " catalogue shown in at least one top k; Gini measures how unevenly products are recommended"
        " (0 = evenly, 1 = always the same few).",
        "",
        similar_items_table(similar, markdown=True),
        "",
    ]
    if PLOT_PRECISION in plots.values():
        lines += [f"![Share of similar items with the same label]({PLOT_PRECISION})", ""]
    lines += [f"### Precision@{k} per articleType", ""]
    if PLOT_PER_ARTICLE_TYPE in plots.values():
        lines += [f"![precision@{k} per articleType]({PLOT_PER_ARTICLE_TYPE})", ""]
    lines += [per_article_type_table(similar["per_article_type"], k, markdown=True), ""]
    photo = report.get("photo_search")
    if photo:
        lines += [
            "## Search by photo (labelled queries)",
            "",
            f"{photo['evaluated']} of {photo['queries']} query images evaluated; hit@1 {_number(photo['hit_at_1'])}.",
            "",
            photo_search_table(photo, markdown=True),
            "",
        ]
        if photo.get("variants"):
            lines += [
                "### Variants side by side",
                "",
                "The same queries in each form (`recommendations.photo.PhotoSteps`): raw (the photo's vector,"
                " whole catalogue); +category (search within the article types the stored classifier finds"
                " likeliest, filled from the whole catalogue when they hold fewer than k products); +garment"
                " crop (the photo's vector averaged with that of a box around the item); +multi-crop (the"
                " photo, the box and a square around the box averaged); +fused kinds (the classifier's"
                " probabilities averaged with the nearest products' kinds, the list shared out between the"
                " likeliest kinds); +open share (the plain nearest neighbours keep a share of the list, larger"
                " the less sure the best kind is); +colour re-rank (products whose measured colour agrees"
                " with the located garment's move up); +kids prior (kids' products, whose catalogue photos"
                " are flat-lays, need a higher similarity); [augmented classifier] (the kinds guessed by the"
                " classifier trained on the catalogue and augmented views of its photos, across domains;"
                " the others use the one trained on the catalogue alone); +projection head (the photo's vector"
                " mapped by the query projection trained on those views before searching the unchanged"
                " catalogue vectors). Latency is the whole call"
                " (embedding, classifier, SQL) in this process; * marks the form the shop serves (timed"
                " through `image_search`).",
                "",
                photo_variants_table(photo, markdown=True),
                "",
                *(
                    _classifier_line(summary)
                    for summary in (photo.get("classifiers") or {"served": photo.get("classifier")}).values()
                ),
                "",
                *(
                    f"- {recipe} classifier: likeliest kind right on {row['accuracy']:.3f} of the"
                    f" {row['photos']} photos ({row['views']} view)"
                    for recipe, row in (photo.get("classifier_accuracy") or {}).items()
                ),
                "",
            ]
            if PLOT_PHOTO_VARIANTS in plots.values():
                lines += [f"![Search by photo variants]({PLOT_PHOTO_VARIANTS})", ""]
            if PLOT_PHOTO_VARIANTS_PER_LABEL in plots.values():
                lines += [f"![precision@5 per label and variant]({PLOT_PHOTO_VARIANTS_PER_LABEL})", ""]
        lines += [f"### Precision@{photo['per_label_k']} per label (served form)", ""]
        if PLOT_PHOTO_PER_LABEL in plots.values():
            lines += [f"![precision@{photo['per_label_k']} per label]({PLOT_PHOTO_PER_LABEL})", ""]
        lines += [per_label_table(photo["per_label"], photo["per_label_k"], markdown=True), ""]
        if photo["unreadable"]:
            lines += ["### Unreadable query images", ""]
            lines += [f"- `{item['file']}` (line {item['line']}): {item['reason']}" for item in photo["unreadable"]]
            lines.append("")
        if photo.get("failed"):
            lines += [f"### Queries without a match in the served top {photo['per_label_k']}", ""]
            lines += [f"- {_failure_line(item, markdown=True)}" for item in photo["failed"]]
            lines.append("")
        if photo["labels_without_catalogue_match"]:
            names = ", ".join(f"`{label}`" for label in photo["labels_without_catalogue_match"])
            lines += [f"Labels with no matching articleType in the catalogue: {names}.", ""]
    return "\n".join(lines)


def _failure_line(item: dict[str, Any], *, markdown: bool = False) -> str:
    file = f"`{item['file']}`" if markdown else item["file"]
    shown = ", ".join(item["top_article_types"])
    return f"{file} (line {item['line']}, {item['label']}): {item['reason']}; shown: {shown}"


def plots_write(report: dict[str, Any], directory: Path) -> dict[str, str]:
    """Draw the PNG plots into `directory` with matplotlib's Agg backend; returns {name: file name}."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    directory = Path(directory)
    written: dict[str, str] = {}

    def save(figure: Figure, name: str) -> None:
        FigureCanvasAgg(figure)
        figure.savefig(directory / name, dpi=110, metadata={"Software": None})
        written[name.removesuffix(".png")] = name

    similar = report["similar_items"]
    rows = similar["at_k"]
    if rows:
        figure = Figure(figsize=(6.8, 4.4), layout="constrained")
        axes = figure.add_subplot()
        ks = [row["k"] for row in rows]
        markers = {"article_type": "o", "sub_category": "s", "gender": "^", "base_colour": "D", "usage": "v"}
        for key, marker in markers.items():
            if f"same_{key}" not in rows[0]:
                continue
            values = [row[f"same_{key}"] for row in rows]
            # The values go in the legend: the lines are often too close for labels beside the points.
            label = f"same {LABEL_KEYS[key]}: " + ", ".join(f"{value:.3f}" for value in values)
            axes.plot(ks, values, marker=marker, label=label)
        axes.set_xticks(ks)
        axes.set_xlabel("k (number of similar items shown)")
        axes.set_ylabel("share of the top k")
        axes.set_ylim(0, 1.02)
        axes.grid(alpha=0.3)
        axes.legend(loc="lower left", fontsize=8, title=f"k = {', '.join(map(str, ks))}", title_fontsize=8)
        axes.set_title(f"{_selector_title(similar)}: share with the product's label", fontsize=10)
        figure.suptitle(
            f"{similar['evaluated']} products, {report['model']}, {similar['function'].rsplit('.', 1)[-1]}",
            fontsize=8,
            color="#555555",
        )
        save(figure, PLOT_PRECISION)
    per_type = similar["per_article_type"]
    if per_type:
        k = similar["per_article_type_k"]
        overall = next((row["same_article_type"] for row in rows if row["k"] == k), None)
        save(
            _bar_figure(
                [f"{row['article_type']} ({row['products']})" for row in per_type],
                [row["precision"] for row in per_type],
                [row["ceiling"] for row in per_type],
                title=f"{_selector_title(similar)}: precision@{k} per articleType (number of products)",
                xlabel=f"share of the top {k} with the same articleType",
                reference=overall,
            ),
            PLOT_PER_ARTICLE_TYPE,
        )
    photo = report.get("photo_search")
    if photo and photo.get("variants"):
        save(_variants_figure(photo), PLOT_PHOTO_VARIANTS)
        if all("per_label" in row for row in photo["variants"]):
            save(_variants_per_label_figure(photo), PLOT_PHOTO_VARIANTS_PER_LABEL)
    if photo and photo["per_label"]:
        k = photo["per_label_k"]
        overall = next((row["precision"] for row in photo["at_k"] if row["k"] == k), None)
        save(
            _bar_figure(
                [f"{row['label']} ({row['queries']})" for row in photo["per_label"]],
                [row["precision"] for row in photo["per_label"]],
                [row["ceiling"] for row in photo["per_label"]],
                title=f"Search by photo: precision@{k} per label (number of queries)",
                xlabel=f"share of the top {k} with a matching articleType",
                reference=overall,
            ),
            PLOT_PHOTO_PER_LABEL,
        )
    return written


def _variants_figure(photo: dict[str, Any]):
    """Horizontal grouped bars, one group per search-by-photo variant (long names stay readable):
    hit@1, precision@5 (or the first k) and hit@5, the measure the kinds' share trades against."""
    from matplotlib.figure import Figure

    variants = photo["variants"]
    k = PER_GROUP_K if PER_GROUP_K in photo["k_values"] else photo["k_values"][0]

    def at(row: dict[str, Any], key: str) -> float:
        return next(item[key] for item in row["at_k"] if item["k"] == k)

    figure = Figure(figsize=(8.0, 1.2 + 0.42 * len(variants)), layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(variants)))[::-1]  # the first variant at the top
    series = [
        ("hit@1", [row["hit_at_1"] for row in variants], "#55A868", 0.27),
        (f"precision@{k}", [at(row, "precision") for row in variants], "#4C72B0", 0.0),
        (f"hit@{k}", [at(row, "hit_rate") for row in variants], "#DD8452", -0.27),
    ]
    for label, values, colour, shift in series:
        axes.barh([p + shift for p in positions], values, height=0.26, color=colour, label=label)
        for position, value in zip(positions, values, strict=True):
            axes.text(value + 0.005, position + shift, f"{value:.3f}", va="center", fontsize=6)
    names = [
        f"{row['name']}{' *' if row['served'] else ''} (p50 {row['latency_ms']['p50']:.0f} ms)" for row in variants
    ]
    axes.set_yticks(positions, names, fontsize=7)
    axes.set_xlim(0, 1.08)
    axes.set_xlabel("share of queries / of the top k")
    axes.grid(axis="x", alpha=0.3)
    axes.set_axisbelow(True)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=7)
    axes.set_title(f"Search by photo: {photo['evaluated']} labelled queries (* = served)", fontsize=10)
    return figure


def _variants_per_label_figure(photo: dict[str, Any]):
    """A grid: precision@5 of each label (rows, with the number of queries) in each variant (columns)."""
    from matplotlib.figure import Figure

    variants = photo["variants"]
    counts = {row["label"]: row["queries"] for row in photo["per_label"]}
    labels = sorted({label for row in variants for label in row["per_label"]}, key=str.lower)
    values = [[row["per_label"].get(label, float("nan")) for row in variants] for label in labels]
    figure = Figure(figsize=(1.6 + 0.75 * len(variants), 1.6 + 0.24 * len(labels)), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(values, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for row, line in enumerate(values):
        for column, value in enumerate(line):
            axes.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=6,
                      color="black" if value > 0.6 else "white")  # fmt: skip
    names = [f"{row['name']}{' *' if row['served'] else ''}" for row in variants]
    axes.set_xticks(range(len(variants)), names, rotation=40, ha="right", fontsize=7)
    axes.set_yticks(range(len(labels)), [f"{label} ({counts.get(label, 0)})" for label in labels], fontsize=7)
    figure.colorbar(image, ax=axes, shrink=0.6, label=f"precision@{photo['per_label_k']}")
    axes.set_title(f"Search by photo: precision@{photo['per_label_k']} per label and variant (* = served)", fontsize=9)
    return figure


def _bar_figure(
    labels: Sequence[str],
    values: Sequence[float],
    ceilings: Sequence[float],
    *,
    title: str,
    xlabel: str,
    reference: float | None,
):
    """Horizontal bars in the given order (top to bottom), each over a light bar of the best possible value."""
    from matplotlib.figure import Figure

    height = max(3.0, 1.3 + 0.2 * len(labels))
    figure = Figure(figsize=(7.5, height), layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(labels)))
    axes.barh(positions, ceilings, color="#E3E3E3", height=0.8, label="best possible with the catalogue")
    axes.barh(positions, values, color="#4C72B0", height=0.55, label="measured")
    axes.set_yticks(positions, labels, fontsize=8)
    axes.set_ylim(len(labels) - 0.5, -0.5)
    for position, value, ceiling in zip(positions, values, ceilings, strict=True):
        axes.text(max(value, ceiling) + 0.01, position, f"{value:.2f}", va="center", fontsize=7)
    if reference is not None:
        axes.axvline(reference, color="#C44E52", linestyle="--", linewidth=1, label=f"all queries: {reference:.2f}")
    axes.set_xlim(0, 1.1)
    axes.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes.set_xlabel(xlabel)
    axes.set_title(title, fontsize=10)
    axes.grid(axis="x", alpha=0.3)
    axes.set_axisbelow(True)
    figure.legend(loc="outside upper center", ncols=3, fontsize=8, frameon=False)
    return figure
