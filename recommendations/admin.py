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
        "metrics_summary",
    ]
    list_filter = ["kind", "is_active"]
    readonly_fields = [f.name for f in RecommenderModel._meta.fields]

    @admin.display(description="metrics")
    def metrics_summary(self, obj: RecommenderModel) -> str:
        return ", ".join(f"{key}: {value}" for key, value in sorted(obj.metrics.items())) or "—"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
