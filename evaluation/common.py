"""Shared pieces of the evaluation: its error, labels, constants and option parsing."""

from __future__ import annotations

from dataclasses import dataclass

from recommendations.photo import PHOTO_SEARCH, PhotoSteps

DEFAULT_K_VALUES = (1, 5, 10)
PER_GROUP_K = 5  # per-articleType and per-label precision are reported at this k
SCRATCH_SUFFIX = "_eval"

PLOT_PRECISION = "precision_at_k.png"
PLOT_PER_ARTICLE_TYPE = "per_article_type.png"
PLOT_PHOTO_PER_LABEL = "photo_precision_per_label.png"
PLOT_PHOTO_VARIANTS = "photo_variants.png"

# Search by photo is measured in each of these forms, side by side, each step added to the one
# before (recommendations.photo.PhotoSteps): the garment crop (localisation), several crops
# averaged, the kinds fused and sharing the list, an unrestricted share, the colour re-rank and the
# kids' flat-lay prior, all with the classifier trained on the catalogue alone as they were first
# measured; then the kinds guessed by the classifier trained across domains (catalogue + augmented
# views). The form equal to PHOTO_SEARCH is the served one.
PLOT_PHOTO_VARIANTS_PER_LABEL = "photo_variants_per_label.png"
_CATALOGUE_ONLY = PhotoSteps(classifier="catalogue")
_CROP_FUSED = _CATALOGUE_ONLY.but(views="crop", kinds="fused")
_RUNNER_UP = 0.2
# The form served in the second round (catalogue-only classifier).
SERVED_BEFORE = _CROP_FUSED.but(runner_up=_RUNNER_UP, kids_penalty=0.05)
_AUGMENTED = PhotoSteps(classifier="augmented")
PHOTO_VARIANTS = (
    ("raw", PhotoSteps()),
    ("+category", _CATALOGUE_ONLY.but(kinds="top")),
    ("+garment crop", PhotoSteps(views="crop")),
    ("+multi-crop", PhotoSteps(views="multi")),
    ("+garment crop +fused kinds", _CROP_FUSED),
    ("+multi-crop +fused kinds", _CROP_FUSED.but(views="multi")),
    ("+open share", _CROP_FUSED.but(open_share=0.3)),
    ("+runner-up kinds", _CROP_FUSED.but(runner_up=_RUNNER_UP)),
    ("+colour re-rank", _CROP_FUSED.but(runner_up=_RUNNER_UP, colour_weight=0.05)),
    ("+kids prior (served before)", SERVED_BEFORE),
    ("+category [augmented classifier]", _AUGMENTED.but(kinds="top")),
    ("+garment crop +fused kinds [augmented classifier]", _AUGMENTED.but(views="crop", kinds="fused")),
    (
        "+runner-up kinds +kids prior [augmented classifier]",
        _AUGMENTED.but(views="crop", kinds="fused", runner_up=_RUNNER_UP, kids_penalty=0.05),
    ),
    ("+kids prior [augmented classifier]", _AUGMENTED.but(views="crop", kinds="fused", kids_penalty=0.05)),
    ("+projection head (raw)", PhotoSteps(projection=True)),
    (
        "+projection head [augmented classifier]",
        _AUGMENTED.but(views="crop", kinds="fused", runner_up=_RUNNER_UP, kids_penalty=0.05, projection=True),
    ),
)
if PHOTO_SEARCH not in {steps for _, steps in PHOTO_VARIANTS}:  # the served form is always measured
    PHOTO_VARIANTS = (*PHOTO_VARIANTS, ("served", PHOTO_SEARCH))


# The served list is filtered by article type, so its articleType share is guaranteed; colour and
# usage are what the filter does not give (compared with random products of the same type).
LABEL_KEYS = {
    "article_type": "articleType",
    "sub_category": "subCategory",
    "gender": "gender",
    "base_colour": "baseColour",
    "usage": "usage",
}


class EvaluationError(Exception):
    """The evaluation cannot run (bad option, unreadable label file, empty catalogue)."""


@dataclass(frozen=True)
class ProductLabels:
    """The labels a neighbour is compared on; empty strings and None mean "unlabelled"."""

    article_type_id: int | None
    article_type: str
    sub_category_id: int | None
    sub_category: str
    gender: str
    base_colour: str = ""
    usage: str = ""

    def value(self, key: str) -> int | str | None:
        """The comparable value for a LABEL_KEYS key (ids for categories, text for the others)."""
        if key == "article_type":
            return self.article_type_id
        if key == "sub_category":
            return self.sub_category_id
        if key in ("gender", "base_colour", "usage"):
            return getattr(self, key).strip().lower() or None
        raise KeyError(key)


@dataclass(frozen=True)
class PhotoQuery:
    line: int
    file: str
    label: str


def k_values_parse(text: str) -> list[int]:
    """Parse --k-values: "1,5,10" gives [1, 5, 10] (sorted, unique, each at least 1)."""
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise EvaluationError(f"--k-values must be comma-separated whole numbers, got {text!r}.") from None
    if not values or values[0] < 1:
        raise EvaluationError(f"--k-values must be whole numbers of at least 1, got {text!r}.")
    return values
