from django.contrib import admin

from recommendations.models import ProductEmbedding, RecommenderModel


@admin.register(ProductEmbedding)
class ProductEmbeddingAdmin(admin.ModelAdmin):
    list_display = ["product", "model_name", "status", "error", "attempts", "queued_at", "computed_at"]
    list_filter = ["model_name", "status"]
    search_fields = ["product__name", "product__sku"]
    exclude = ["vector"]
    readonly_fields = [f.name for f in ProductEmbedding._meta.fields if f.name != "vector"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(RecommenderModel)
class RecommenderModelAdmin(admin.ModelAdmin):
    """When each behavioural recommender was trained, on how many events, and its figures."""

    list_display = [
        "kind",
        "version",
        "is_active",
        "trained_at",
        "n_events",
        "up_to",
        "n_products",
        "n_neighbours",
        "evaluation_summary",
        "metrics_summary",
    ]
    list_filter = ["kind", "is_active"]
    # The Gram matrix of factor versions is 32 KB of float64 bytes for fold-in, nothing to read.
    exclude = ["gramian"]
    readonly_fields = [*(f.name for f in RecommenderModel._meta.fields if f.name != "gramian"), "evaluation_summary"]

    @admin.display(description="metrics")
    def metrics_summary(self, obj: RecommenderModel) -> str:
        counts = {key: value for key, value in obj.metrics.items() if key != "evaluation"}
        return ", ".join(f"{key}: {value}" for key, value in sorted(counts.items())) or "—"

    @admin.display(description="evaluation")
    def evaluation_summary(self, obj: RecommenderModel) -> str:
        """The figures recommenders_train measured on the shop's recent purchases."""
        figures = obj.metrics.get("evaluation")
        if not figures:
            return "not evaluated"
        days = figures["days"]
        period = f"last {days} day{'s' if days != 1 else ''}"
        if not figures["test_users"]:
            return f"not enough recent purchases to evaluate ({period})"
        k = figures["k"]
        return (
            f"NDCG@{k} {figures['ndcg']:.3f} (popular {figures['popularity_recent']['ndcg']:.3f}), "
            f"recall@{k} {figures['recall']:.3f} (popular {figures['popularity_recent']['recall']:.3f}), "
            f"hit rate {figures['hit_rate']:.3f} on {figures['test_users']} shoppers, {period}"
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
