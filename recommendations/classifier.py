"""Category prediction for search by photo, learnt from the catalogue's own labelled vectors.

A shopper's photo carries no label. A multinomial logistic regression over the catalogue's
embeddings (label = the product's articleType) guesses the article type of the photo, and
search by photo then looks among the most likely types only. It is fitted by scikit-learn
and stored as plain arrays, so prediction is one matrix product in numpy.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Bump when the training recipe changes: stored classifiers of an older recipe are not used.
# "catalogue": fitted on the catalogue's vectors alone (the first recipe, kept so the evaluation can
# measure it beside the served one); "augmented": also on augmented views of the catalogue's own
# photos (recommendations.augment), so it knows the kinds away from the studio.
RECIPES = {"catalogue": "logreg-articletype-v1", "augmented": "logreg-articletype-augmented-v2"}
SERVED_RECIPE = "augmented"
ALGORITHM = RECIPES[SERVED_RECIPE]
# The query-side projection head (recommendations.projection), trained on the same views with the
# augmented recipe and stored in the same table (no classes; params hold W).
PROJECTION_ALGORITHM = "query-projection-infonce-v1"
# Types with fewer products are not learnt (a shopper's photo of them falls back to plain search).
MIN_PRODUCTS_PER_CLASS = 3
# Bounds training time on big catalogues: at most this many products of one type are used.
MAX_PRODUCTS_PER_CLASS = 400
REGULARISATION_C = 10.0
# The augmented recipe's views: this many per product, at most MAX_VIEWS_PER_CLASS per article
# type, so the worker embeds at most classes x MAX_VIEWS_PER_CLASS extra images per training.
VIEWS_PER_PRODUCT = 2
MAX_VIEWS_PER_CLASS = 200
# ...and at most this many in all (a seeded sample when more would be made), so a retraining stays
# well inside the worker's task time limit (4,430 views took 98 s here on 2 busy cores).
MAX_VIEWS = 8000
# Pieces of these many other catalogue photos serve as cluttered backgrounds for the views.
BACKGROUND_PHOTOS = 64
VIEWS_SEED = 0


@dataclass(frozen=True)
class LinearClassifier:
    """Softmax over `classes` (category ids): probabilities = softmax(vector @ weights.T + bias)."""

    classes: np.ndarray  # (C,) int64 category ids
    weights: np.ndarray  # (C, D) float32
    bias: np.ndarray  # (C,) float32

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        logits = np.atleast_2d(vectors).astype(np.float32) @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, classes=self.classes, weights=self.weights, bias=self.bias)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LinearClassifier:
        with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as arrays:
            return cls(
                classes=arrays["classes"].astype(np.int64),
                weights=arrays["weights"].astype(np.float32),
                bias=arrays["bias"].astype(np.float32),
            )


def training_rows(labels: Sequence[int], *, seed: int = 0) -> np.ndarray:
    """Indices of the rows to train on: classes with enough products, each capped at MAX_PRODUCTS_PER_CLASS."""
    labels = np.asarray(labels)
    counts = Counter(labels.tolist())
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for label in sorted(counts):
        if counts[label] < MIN_PRODUCTS_PER_CLASS:
            continue
        rows = np.flatnonzero(labels == label)
        if len(rows) > MAX_PRODUCTS_PER_CLASS:
            rows = np.sort(rng.choice(rows, MAX_PRODUCTS_PER_CLASS, replace=False))
        keep.extend(rows.tolist())
    return np.asarray(sorted(keep), dtype=np.int64)


def view_owners_choose(
    labels: Sequence[int], *, per_product: int, per_class: int, total: int | None = None, seed: int = 0
) -> np.ndarray:
    """The rows to make augmented views of, one entry per view: `per_product` views of each product
    of a learnt class, at most `per_class` views per class (spread over as many products as it
    allows), so training time is bounded by classes x per_class, not by the catalogue's size; with
    `total`, a seeded sample of at most that many of those views (in the same order)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    kept = training_rows(labels, seed=seed)
    owners: list[int] = []
    for label in sorted(set(labels[kept].tolist())):
        rows = kept[labels[kept] == label]
        if len(rows) * per_product > per_class:
            rows = np.sort(rng.choice(rows, max(1, per_class // max(per_product, 1)), replace=False))
        owners.extend(np.repeat(rows, per_product).tolist())
    if total is not None and len(owners) > total:
        owners = [owners[index] for index in np.sort(rng.choice(len(owners), total, replace=False))]
    return np.asarray(owners, dtype=np.int64)


def classifier_fit(
    vectors: np.ndarray,
    labels: Sequence[int],
    *,
    views: np.ndarray | None = None,
    view_owners: Sequence[int] | None = None,
) -> tuple[LinearClassifier, dict]:
    """Fit on L2-normalised vectors and their category ids; returns the classifier and its metrics.

    `views` are vectors of augmented views of the same products (recommendations.augment) and
    `view_owners` the row of `vectors` each was made from: they are learnt with their product's
    label, so the classifier also knows the kinds away from the studio (trained across domains).

    The metrics hold a held-out accuracy (a stratified fifth of the products, fitted on the rest and
    on the views of the rest only) so the admin can see how well the catalogue's types separate,
    and, with views, the accuracy on the held-out products' views (photos unlike the catalogue's);
    the stored classifier is then fitted on every product. Raises ValueError with fewer than two
    learnable classes.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    vectors = np.asarray(vectors, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    rows = training_rows(labels)
    x, y = vectors[rows], labels[rows]
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(
            f"need at least two article types with {MIN_PRODUCTS_PER_CLASS} or more embedded products; "
            f"found {len(classes)}"
        )
    if views is None or len(views) == 0:
        view_x, view_rows = np.zeros((0, vectors.shape[1]), np.float32), np.zeros(0, np.int64)
    else:
        view_x, view_rows = np.asarray(views, dtype=np.float32), np.asarray(view_owners, dtype=np.int64)
        if view_x.shape != (len(view_rows), vectors.shape[1]):
            raise ValueError("views and view_owners must match, one owner row per view of the vectors' width")
        learnt = np.isin(view_rows, rows)  # views of products of unlearnt types are dropped
        view_x, view_rows = view_x[learnt], view_rows[learnt]

    def fit(features: np.ndarray, targets: np.ndarray) -> LogisticRegression:
        model = LogisticRegression(C=REGULARISATION_C, max_iter=300, tol=1e-3)
        return model.fit(features, targets)

    metrics: dict = {"classes": len(classes), "trained_on": len(rows), "views": len(view_rows)}
    if len(y) >= 5 * len(classes):
        train_rows, test_rows = train_test_split(rows, test_size=0.2, random_state=0, stratify=y)
        train_views = np.isin(view_rows, train_rows)
        held_out = fit(
            np.vstack([vectors[train_rows], view_x[train_views]]),
            np.concatenate([labels[train_rows], labels[view_rows[train_views]]]),
        )
        right = held_out.predict(vectors[test_rows]) == labels[test_rows]
        metrics["held_out_accuracy"] = round(float(right.mean()), 4)
        metrics["held_out_size"] = len(test_rows)
        test_views = np.isin(view_rows, test_rows)
        if test_views.any():
            predicted = held_out.predict(view_x[test_views])
            metrics["held_out_views_accuracy"] = round(float((predicted == labels[view_rows[test_views]]).mean()), 4)
    model = fit(np.vstack([x, view_x]), np.concatenate([y, labels[view_rows]]))
    weights, bias = model.coef_.astype(np.float32), model.intercept_.astype(np.float32)
    if len(classes) == 2:  # scikit-learn keeps one row for two classes: sigmoid(z) = softmax([0, z])
        weights, bias = np.vstack([np.zeros_like(weights), weights]), np.concatenate([[0], bias]).astype(np.float32)
    classifier = LinearClassifier(classes=model.classes_.astype(np.int64), weights=weights, bias=bias)
    return classifier, metrics


def catalogue_signature(rows: Sequence[tuple[int, int, str]]) -> str:
    """SHA-256 of (product id, category id, image hash) rows: changes when the training data would."""
    digest = hashlib.sha256()
    for product_id, category_id, image_sha in sorted(rows):
        digest.update(f"{product_id},{category_id},{image_sha}\n".encode())
    return digest.hexdigest()


def categories_choose(
    probabilities: np.ndarray, classes: np.ndarray, *, mass: float, max_categories: int, min_confidence: float
) -> list[int]:
    """The most likely categories until their probabilities add up to `mass` (at most max_categories).

    Empty when even the best guess is below `min_confidence`: the caller then searches everything.
    """
    order = np.argsort(-probabilities, kind="stable")
    if probabilities[order[0]] < min_confidence:
        return []
    chosen: list[int] = []
    total = 0.0
    for index in order[:max_categories]:
        chosen.append(int(classes[index]))
        total += float(probabilities[index])
        if total >= mass:
            break
    return chosen


# --------------------------------------------------------------------------- stored classifiers

# Search within the likeliest article types until they hold this much probability...
PHOTO_CATEGORY_MASS = 0.5
# ...but never more than this many types...
PHOTO_MAX_CATEGORIES = 3
# ...and only when the best guess is at least this likely; otherwise search everything.
PHOTO_MIN_CONFIDENCE = 0.0
# A retraining runs this long after the first new embeddings of a burst (checked by beat).
RETRAIN_DELAY_SECONDS = 120
# In CACHES["shared"]: the time (epoch seconds) a retraining is due; absent when none is.
RETRAIN_DUE_KEY = "recommendations:category-classifier-retrain-due"

# Per process and recipe: the newest stored classifier, decoded once (id, classifier).
_loaded: dict[tuple[str, str], tuple[int, LinearClassifier]] = {}


def _training_data(model_name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Vectors, category ids and product ids of the active products with a ready embedding, and
    their signature."""
    from recommendations.models import ProductEmbedding

    rows = list(
        ProductEmbedding.objects.filter(
            model_name=model_name,
            status=ProductEmbedding.Status.READY,
            product__is_active=True,
            product__category__isnull=False,
        )
        .order_by("product_id")
        .values_list("product_id", "product__category_id", "source_sha256", "vector")
    )
    signature = catalogue_signature([(pk, category, sha) for pk, category, sha, _ in rows])
    if not rows:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64), signature
    vectors = np.stack([np.asarray(vector, dtype=np.float32) for *_, vector in rows])
    labels = np.asarray([category for _, category, _, _ in rows], dtype=np.int64)
    return vectors, labels, np.asarray([pk for pk, *_ in rows], dtype=np.int64), signature


def _product_images(product_ids: Sequence[int]) -> dict[int, object]:
    """Decoded images of these products; a product whose image is missing or cannot be decoded is
    left out (logged): one bad file must not stop the training."""
    import logging

    from shop.images import ImageError, load_image
    from shop.models import Product

    images: dict[int, object] = {}
    for product in Product.objects.filter(pk__in=list(product_ids)).only("pk", "image"):
        try:
            with product.image.open("rb") as file:
                images[product.pk] = load_image(file.read())
        except (ImageError, OSError, ValueError) as exc:
            logging.getLogger(__name__).warning("No augmented views of product %s: %s", product.pk, exc)
    return images


def augmented_views_embed(
    product_ids: np.ndarray, labels: np.ndarray, *, model_name: str, dimensions: int, seed: int = VIEWS_SEED
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Vectors of augmented views of the products' images (recommendations.augment), the row of
    `product_ids` each was made from, and counts and seconds for the metrics.

    Bounded: VIEWS_PER_PRODUCT per product, MAX_VIEWS_PER_CLASS per article type. Embedded through
    the shop's embedder in batches, the same way product photos are.
    """
    import time

    from recommendations.augment import augmented_view
    from recommendations.services import embedder_get

    started = time.perf_counter()
    owners = view_owners_choose(
        labels, per_product=VIEWS_PER_PRODUCT, per_class=MAX_VIEWS_PER_CLASS, total=MAX_VIEWS, seed=seed
    )
    rng = np.random.default_rng(seed)
    background_rows = rng.choice(len(product_ids), min(BACKGROUND_PHOTOS, len(product_ids)), replace=False)
    others = list(_product_images(product_ids[background_rows].tolist()).values())
    embedder = None
    chunks, kept, unreadable = [], [], set()
    # A batch at a time (views of one product are adjacent): only a batch's photos are held at once.
    for start in range(0, len(owners), 256):
        rows = owners[start : start + 256]
        images = _product_images(sorted(set(product_ids[rows].tolist())))
        unreadable |= set(product_ids[rows].tolist()) - images.keys()
        rows = [row for row in rows.tolist() if int(product_ids[row]) in images]
        if not rows:
            continue
        embedder = embedder or embedder_get(model_name)  # no image to augment: the model is not loaded
        chunks.append(embedder.embed([augmented_view(images[int(product_ids[row])], rng, others) for row in rows]))
        kept.extend(rows)
    vectors = np.vstack(chunks) if chunks else np.zeros((0, dimensions), np.float32)
    owners = np.asarray(kept, dtype=np.int64)
    metrics = {
        "views_products": len(set(kept)),
        "views_unreadable_products": len(unreadable),
        "views_seconds": round(time.perf_counter() - started, 1),
    }
    return vectors, owners, metrics


def category_classifier_latest(model_name: str | None = None, *, recipe: str = SERVED_RECIPE):
    """The newest stored classifier of the model (default: active) and recipe (default: served), or None."""
    from recommendations.models import CategoryClassifier
    from recommendations.services import active_model_name

    return (
        CategoryClassifier.objects.filter(model_name=model_name or active_model_name(), algorithm=RECIPES[recipe])
        .order_by("-version")
        .first()
    )


def category_classifier_train(*, force: bool = False, recipe: str = SERVED_RECIPE):
    """Fit a classifier on the catalogue and store it as the next version; None when nothing changed.

    `recipe` "augmented" (served) also fits augmented views of the catalogue's photos; "catalogue"
    the catalogue's vectors alone (for comparison). Skips (returns None) when the newest classifier
    of the recipe was trained on the same rows, unless force. Raises ValueError when the catalogue
    has fewer than two learnable article types, or for an unknown recipe.
    """
    import time

    from recommendations.services import active_model_name

    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {', '.join(RECIPES)}, not {recipe!r}")
    model_name = active_model_name()
    vectors, labels, product_ids, signature = _training_data(model_name)
    latest = category_classifier_latest(model_name, recipe=recipe)
    if latest is not None and latest.catalogue_signature == signature and not force:
        return None
    started = time.perf_counter()
    views, owners, view_metrics = None, None, {}
    if recipe == "augmented" and len(np.unique(labels)) >= 2:
        views, owners, view_metrics = augmented_views_embed(
            product_ids, labels, model_name=model_name, dimensions=vectors.shape[1]
        )
    classifier, metrics = classifier_fit(vectors, labels, views=views, view_owners=owners)
    metrics.update(view_metrics, seconds=round(time.perf_counter() - started, 1))
    stored = _store(model_name, RECIPES[recipe], classifier.classes.tolist(), classifier.to_bytes(), metrics, signature)
    if views is not None and len(views):
        from recommendations.projection import projection_fit, projection_to_bytes

        started = time.perf_counter()
        weights, head_metrics = projection_fit(vectors, labels, views, owners)
        head_metrics["seconds"] = round(time.perf_counter() - started, 1)
        head_metrics["trained_on"] = len(vectors)
        _store(model_name, PROJECTION_ALGORITHM, [], projection_to_bytes(weights), head_metrics, signature)
    return stored


def _store(model_name: str, algorithm: str, classes: list[int], params: bytes, metrics: dict, signature: str):
    from django.db import IntegrityError, transaction
    from django.db.models import Max
    from django.utils import timezone

    from recommendations.models import CategoryClassifier

    for _ in range(3):  # two trainings at once: the loser takes the next number
        version = (CategoryClassifier.objects.filter(model_name=model_name).aggregate(v=Max("version"))["v"] or 0) + 1
        try:
            with transaction.atomic():
                return CategoryClassifier.objects.create(
                    model_name=model_name,
                    version=version,
                    algorithm=algorithm,
                    trained_at=timezone.now(),
                    n_products=metrics["trained_on"],
                    classes=classes,
                    params=params,
                    metrics=metrics,
                    catalogue_signature=signature,
                )
        except IntegrityError:
            continue
    raise RuntimeError("could not store the classifier: its version number kept being taken")


# Per process: the newest stored projection head, decoded once (id, W).
_projection: dict[str, tuple[int, np.ndarray]] = {}


def photo_projection() -> np.ndarray | None:
    """The newest stored query projection W of the active model, or None when there is none."""
    from recommendations.models import CategoryClassifier
    from recommendations.services import active_model_name

    model_name = active_model_name()
    newest = (
        CategoryClassifier.objects.filter(model_name=model_name, algorithm=PROJECTION_ALGORITHM)
        .order_by("-version")
        .values_list("pk", flat=True)
        .first()
    )
    if newest is None:
        return None
    cached = _projection.get(model_name)
    if cached is None or cached[0] != newest:
        from recommendations.projection import projection_from_bytes

        params = CategoryClassifier.objects.filter(pk=newest).values_list("params", flat=True).first()
        if params is None:
            return None
        cached = (newest, projection_from_bytes(params))
        _projection[model_name] = cached
    return cached[1]


def _shared_cache():
    from django.core.cache import caches

    # Every worker process (prefork children included) and beat must see the same "due" mark.
    return caches["shared"]


def category_classifier_schedule(*, delay: int | None = None) -> bool:
    """Mark a retraining due in `delay` seconds, once however many batches of embeddings finish meanwhile.

    Only a "due at" time goes to the shared cache: the periodic `category_classifier_retrain_task`
    (beat) runs the training once it is due. No message waits in a worker for the delay, so a
    broker outage finds nothing held unacknowledged. Returns whether this call marked it (False:
    one is already due, or the shared cache is unreachable; the next batch marks it again).
    """
    import logging
    import time

    delay = RETRAIN_DELAY_SECONDS if delay is None else delay
    try:
        return bool(_shared_cache().add(RETRAIN_DUE_KEY, time.time() + delay, timeout=None))
    except Exception as exc:  # Redis down: the embeddings are stored; a later batch schedules it
        logging.getLogger(__name__).warning("Could not schedule classifier training: %s", exc)
        return False


def category_classifier_retrain_claim(*, now: float | None = None) -> bool:
    """Whether a retraining is due now; True for exactly one caller, which must then train."""
    import time

    cache = _shared_cache()
    due_at = cache.get(RETRAIN_DUE_KEY)
    if due_at is None or due_at > (time.time() if now is None else now):
        return False
    # Redis DEL answers 1 to one caller only: two checks at once never both train.
    return bool(cache.delete(RETRAIN_DUE_KEY))


def photo_category_probabilities(vector: np.ndarray, *, recipe: str = SERVED_RECIPE) -> dict[int, float]:
    """Every learnt article type id with the probability that a photo's vector shows it, by the
    newest classifier of `recipe` (default: the served one); empty without a usable classifier."""
    from recommendations.models import CategoryClassifier
    from recommendations.services import active_model_name

    model_name = active_model_name()
    newest = (
        CategoryClassifier.objects.filter(model_name=model_name, algorithm=RECIPES[recipe])
        .order_by("-version")
        .values_list("pk", flat=True)
        .first()
    )
    if newest is None:
        return {}
    cached = _loaded.get((model_name, recipe))
    if cached is None or cached[0] != newest:
        # Decoded once per process and version; the check above is one indexed row.
        params = CategoryClassifier.objects.filter(pk=newest).values_list("params", flat=True).first()
        if params is None:
            return {}
        cached = (newest, LinearClassifier.from_bytes(params))
        _loaded[(model_name, recipe)] = cached
    classifier = cached[1]
    if classifier.weights.shape[1] != np.asarray(vector).shape[-1]:
        return {}
    probabilities = classifier.probabilities(vector)[0]
    return {int(c): float(p) for c, p in zip(classifier.classes, probabilities, strict=True)}


def photo_categories_predict(vector: np.ndarray, *, recipe: str = SERVED_RECIPE) -> list[int]:
    """The article type ids a photo's vector most likely shows; empty without a usable classifier."""
    probabilities = photo_category_probabilities(vector, recipe=recipe)
    if not probabilities:
        return []
    return categories_choose(
        np.array(list(probabilities.values())),
        np.array(list(probabilities.keys())),
        mass=PHOTO_CATEGORY_MASS,
        max_categories=PHOTO_MAX_CATEGORIES,
        min_confidence=PHOTO_MIN_CONFIDENCE,
    )
