"""Image embeddings of products, stored in PostgreSQL with pgvector."""

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.utils.translation import gettext_lazy as _
from pgvector.django import HnswIndex, VectorField

# The dimensions of each model's vectors, imported from here across the project.
from recommendations.embeddings import MODEL_DIMENSIONS as EMBEDDING_DIMENSIONS  # noqa: F401
from recommendations.vectors import halfvec_expression
from shop.models import BaseModel, Product


def _hnsw_index(model_name: str, short: str) -> HnswIndex:
    # halfvec: HNSW takes `vector` only up to 2,000 dimensions. Partial per model so that
    # each index holds vectors of one dimension and queries compare one model only.
    return HnswIndex(
        OpClass(halfvec_expression(model_name), name="halfvec_cosine_ops"),
        name=f"embedding_{short}_hnsw",
        m=16,
        ef_construction=64,
        condition=models.Q(model_name=model_name),
    )


class ProductEmbedding(BaseModel):
    """One product's image vector for one model, with the state of its computation."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        READY = "ready", _("ready")
        FAILED = "failed", _("failed")

    product = models.ForeignKey(Product, models.CASCADE, related_name="embeddings", verbose_name=_("product"))
    model_name = models.CharField(_("model"), max_length=40)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(_("error"), blank=True)
    # The product image this row is about (its SHA-256); a different image means re-embed.
    source_sha256 = models.CharField(_("source image SHA-256"), max_length=64, blank=True)
    vector = VectorField(_("vector"), null=True, blank=True)
    # The item's dominant colour measured from the same image (CIE L, a, b; recommendations.colours):
    # similar items prefer the viewed product's colour where the catalogue names none.
    colour_lab = ArrayField(models.FloatField(), size=3, null=True, blank=True, verbose_name=_("colour (Lab)"))
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    computed_at = models.DateTimeField(_("computed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("product embedding")
        verbose_name_plural = _("product embeddings")
        constraints = [
            models.UniqueConstraint(fields=["product", "model_name"], name="embedding_one_per_model"),
            models.CheckConstraint(
                condition=~models.Q(status="ready") | models.Q(vector__isnull=False),
                name="embedding_ready_has_vector",
            ),
        ]
        indexes = [
            models.Index(fields=["model_name", "status"], name="embedding_model_status"),
            # max(updated_at) per model: the version in cached similar-items keys.
            models.Index(fields=["model_name", "updated_at"], name="embedding_model_updated"),
            _hnsw_index("efficientnet_lite0", "lite0"),
            _hnsw_index("resnet50", "resnet50"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} / {self.model_name}: {self.status}"


class CategoryClassifier(BaseModel):
    """A category predictor for search by photo, fitted on one model's catalogue vectors.

    Versions count up per embedding model; search uses the newest one of the active model and
    current algorithm. The weights are a numpy .npz (classes, weights, bias).
    """

    model_name = models.CharField(_("embedding model"), max_length=40)
    version = models.PositiveIntegerField(_("version"))
    algorithm = models.CharField(_("algorithm"), max_length=40)
    trained_at = models.DateTimeField(_("trained at"))
    n_products = models.PositiveIntegerField(_("products trained on"))
    # Category ids, in the order of the weight rows.
    classes = models.JSONField(_("classes"), default=list)
    params = models.BinaryField(_("parameters"))
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    # Hash of the (product, category, image) rows it learnt from: unchanged catalogue, no retraining.
    catalogue_signature = models.CharField(_("catalogue signature"), max_length=64)

    class Meta:
        verbose_name = _("category classifier")
        verbose_name_plural = _("category classifiers")
        constraints = [
            models.UniqueConstraint(fields=["model_name", "version"], name="classifier_one_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} classifier v{self.version} ({self.algorithm})"


class RecommenderModel(models.Model):
    """One trained version of a behavioural recommender: its neighbour lists are ProductNeighbour rows.

    Exactly one version per kind is active; training writes the new version's rows first and then
    switches `is_active` in one transaction, so product pages never see a moment without lists.
    """

    class Kind(models.TextChoices):
        ALSO_BOUGHT = "also_bought", _("customers who bought this also bought")
        BOUGHT_TOGETHER = "bought_together", _("frequently bought together")
        ALS = "als", _("matrix factorisation (ALS)")
        BPR = "bpr", _("matrix factorisation (BPR)")
        EASE = "ease", _("EASE item-item (recommended for you)")

    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    version = models.PositiveIntegerField(_("version"))
    # Method, weights, half-life, n, min_support...: what this version was trained with.
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    trained_at = models.DateTimeField(_("trained at"))
    # Events read (all kinds) and the newest event's time: what the version knows about.
    n_events = models.PositiveIntegerField(_("events trained on"), default=0)
    up_to = models.DateTimeField(_("events up to"), null=True, blank=True)
    n_products = models.PositiveIntegerField(_("products with neighbours"), default=0)
    n_neighbours = models.PositiveIntegerField(_("neighbour rows"), default=0)
    # Evaluation figures (offline evaluation may add its own); coverage figures from training.
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    is_active = models.BooleanField(_("active"), default=False)
    # Matrix factorisation only: Y'Y of the product factors (float64, F x F, numpy bytes), which
    # folding a shopper in needs and which would otherwise take a read of every product's factors.
    gramian = models.BinaryField(_("item factor Gram matrix"), null=True, blank=True)

    class Meta:
        verbose_name = _("recommender model")
        verbose_name_plural = _("recommender models")
        ordering = ["kind", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "version"], name="recommender_one_per_version"),
            models.UniqueConstraint(
                fields=["kind"], condition=models.Q(is_active=True), name="recommender_one_active_per_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} v{self.version}"


class ProductNeighbour(models.Model):
    """One entry of a product's list in one recommender version: `neighbour` at `rank` (1 = best)."""

    model = models.ForeignKey(
        RecommenderModel, models.CASCADE, related_name="neighbours", verbose_name=_("recommender model")
    )
    product = models.ForeignKey(Product, models.CASCADE, related_name="+", verbose_name=_("product"))
    neighbour = models.ForeignKey(Product, models.CASCADE, related_name="+", verbose_name=_("neighbour"))
    rank = models.PositiveSmallIntegerField(_("rank"))
    score = models.FloatField(_("score"))

    class Meta:
        verbose_name = _("product neighbour")
        verbose_name_plural = _("product neighbours")
        constraints = [
            models.UniqueConstraint(fields=["model", "product", "rank"], name="neighbour_unique_rank"),
            models.CheckConstraint(condition=~models.Q(product=models.F("neighbour")), name="neighbour_not_itself"),
        ]
        # The unique constraint's index (model, product, rank) serves the product page's read.

    def __str__(self) -> str:
        return f"{self.model}: {self.product_id} → {self.neighbour_id} (#{self.rank})"


# Matrix factorisation versions (kinds als, bpr). The vectors are `vector` without a fixed
# dimension: F is a training parameter (tuned per version, BPR adds a bias column), and serving
# is an exact scan by inner product, which needs no index and so no fixed dimension (an HNSW index
# would need one per dimension, as an expression; docs/evaluation.md, "Matrix factorisation").


class ProductFactor(models.Model):
    """One product's factors in one factorisation version (BPR: the last entry is the item bias)."""

    model = models.ForeignKey(
        RecommenderModel, models.CASCADE, related_name="product_factors", verbose_name=_("recommender model")
    )
    product = models.ForeignKey(Product, models.CASCADE, related_name="+", verbose_name=_("product"))
    vector = VectorField(_("factors"))

    class Meta:
        verbose_name = _("product factors")
        verbose_name_plural = _("product factors")
        constraints = [models.UniqueConstraint(fields=["model", "product"], name="product_factor_one_per_model")]

    def __str__(self) -> str:
        return f"{self.model}: product {self.product_id}"


class ShopperFactor(models.Model):
    """One shopper's factors in one factorisation version, the shopper named as the event log's
    trainers name them ("user:<id>", "customer:<key>", "session:<key>"; BPR: the last entry is 1)."""

    model = models.ForeignKey(
        RecommenderModel, models.CASCADE, related_name="shopper_factors", verbose_name=_("recommender model")
    )
    shopper = models.CharField(_("shopper"), max_length=120)
    vector = VectorField(_("factors"))

    class Meta:
        verbose_name = _("shopper factors")
        verbose_name_plural = _("shopper factors")
        constraints = [models.UniqueConstraint(fields=["model", "shopper"], name="shopper_factor_one_per_model")]

    def __str__(self) -> str:
        return f"{self.model}: {self.shopper}"
