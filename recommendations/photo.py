"""Search by photo's steps and their settings: which views of the photo are embedded, how the
kinds it shows share the list, what the shopper can see (colour), and the flat-lay prior.

Each step can be switched on and off on its own so that the evaluation measures them side by
side (evaluation/photo_search.py); PHOTO_SEARCH is the form served. Pure functions, no database.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
from PIL import Image, ImageOps

from recommendations.colours import image_colour_lab
from recommendations.garment import garment_box, square_around

VIEWS = ("photo", "crop", "multi", "tta")
KINDS = ("none", "top", "fused")
CLASSIFIERS = ("catalogue", "augmented")  # recommendations.classifier.RECIPES


@dataclass(frozen=True)
class PhotoSteps:
    """One form of search by photo.

    views: "photo" (the photo alone), "crop" (the photo and a box around the garment, averaged),
    "multi" (the photo, the garment box and a square around it, so the model's centre crop cannot
    cut the garment off), "tta" (the photo, its mirror image and its centre 80%).
    kinds: "none" (the whole catalogue), "top" (only the classifier's likeliest types), "fused"
    (the list shared out between the kinds the classifier and the nearest products agree on).
    open_share: weight of the plain nearest neighbours among the kinds' pools, scaled by how unsure
    the best kind is ((1 - p) ** 2), so an unsure guess cannot push every right answer out.
    runner_up: a kind at least this fraction as likely as the likeliest gets one place in the top
    PHOTO_RUNNER_UP_PLACES (its best product in the last place when the share gave it none): a
    wrong first guess then still shows one right product, at the cost of one place when it was right.
    colour_weight: bonus for products whose measured colour agrees with the located garment's.
    kids_penalty: taken off the similarity of kids' products (gender Boys or Girls) when they are
    ranked, because their catalogue photos are flat-lays like shoppers' photos of adult clothes.
    classifier: which stored classifier guesses the kinds: "augmented" (trained on the catalogue and
    augmented views of it, across domains) or "catalogue" (the catalogue's vectors alone).
    projection: search with the photo's vector mapped by the stored query projection head
    (recommendations.projection); the classifier still reads the unprojected vector.
    """

    views: str = "photo"
    kinds: str = "none"
    open_share: float = 0.0
    runner_up: float = 0.0
    colour_weight: float = 0.0
    kids_penalty: float = 0.0
    classifier: str = "augmented"
    projection: bool = False

    def __post_init__(self) -> None:
        if self.views not in VIEWS:
            raise ValueError(f"views must be one of {', '.join(VIEWS)}, not {self.views!r}")
        if self.kinds not in KINDS:
            raise ValueError(f"kinds must be one of {', '.join(KINDS)}, not {self.kinds!r}")
        if self.classifier not in CLASSIFIERS:
            raise ValueError(f"classifier must be one of {', '.join(CLASSIFIERS)}, not {self.classifier!r}")

    @classmethod
    def legacy(cls, tta: bool | str, restrict: bool | str) -> PhotoSteps:
        """The form the older (tta, restrict) arguments named: True/"crop" and True/"fused"."""
        views = "crop" if tta == "crop" else "tta" if tta else "photo"
        kinds = "fused" if restrict == "fused" else "top" if restrict else "none"
        return cls(views=views, kinds=kinds)

    def but(self, **changes) -> PhotoSteps:
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return asdict(self)


# The served form, chosen on the tuning split's imitated photos (docs/evaluation.md, issue 12 third
# round): the crop, fused kinds, runner-up kinds and the kids prior as before, with the kinds guessed
# by the classifier trained across domains (the default `classifier`). On the tuning split (400
# photos) against the same steps with the catalogue-only classifier: precision@5 0.672 against 0.647,
# hit@5 0.858 against 0.835; the projection head raised precision@5 (0.687) but lowered hit@5 below
# the 0.85 (0.845), so it is measured, not served. The criterion: of the forms that reach both
# goals (precision@5 >= 0.65, hit@5 >= 0.85), the highest precision@5.
PHOTO_SEARCH = PhotoSteps(views="crop", kinds="fused", runner_up=0.2, kids_penalty=0.05, classifier="augmented")
# The runner-up kinds' places are kept within this many first results.
PHOTO_RUNNER_UP_PLACES = 5


def photo_views(image: Image.Image, views: str) -> list[Image.Image]:
    """The images embedded for a photo; their vectors are averaged."""
    if views == "photo":
        return [image]
    if views == "tta":
        width, height = image.size
        zoom = image.crop((round(width * 0.1), round(height * 0.1), round(width * 0.9), round(height * 0.9)))
        return [image, ImageOps.mirror(image), zoom]
    box = garment_box(image)
    if box is None:  # nothing stands out: the photo alone
        return [image]
    if views == "crop":
        return [image, image.crop(box)]
    return [image, image.crop(box), image.crop(square_around(box, image.size))]


def garment_colour_lab(image: Image.Image) -> tuple[float, float, float]:
    """The dominant colour of the located garment (of the whole photo when none stands out), CIE Lab."""
    box = garment_box(image)
    return image_colour_lab(image.crop(box) if box else image)


def mean_vector(vectors: np.ndarray) -> np.ndarray:
    mean = np.asarray(vectors, dtype=np.float32).mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
