import json

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from recommendations.models import ProductEmbedding, RecommenderModel

# The click-through windows of the "Recommendations" page, in days.
CLICK_THROUGH_DAYS = (7, 30)


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
    actions = ["make_active"]
    # The "Make this version active" button and the link to the "Recommendations" page.
    change_form_template = "admin/recommendations/recommendermodel/change_form.html"
    change_list_template = "admin/recommendations/recommendermodel/change_list.html"

    def get_urls(self) -> list:
        urls = [
            path(
                "overview/",
                self.admin_site.admin_view(self.overview_view),
                name="recommendations_recommendermodel_overview",
            ),
            path(
                "<int:pk>/activate/",
                self.admin_site.admin_view(self.activate_view),
                name="recommendations_recommendermodel_activate",
            ),
        ]
        return urls + super().get_urls()

    def has_activate_permission(self, request: HttpRequest) -> bool:
        # The model admin is read-only (has_change_permission is False): switching versions is the
        # one change allowed, to users who hold the model's change permission.
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(
        description="Make this version active (roll back or forward; nothing is deleted)", permissions=["activate"]
    )
    def make_active(self, request: HttpRequest, queryset: QuerySet[RecommenderModel]) -> None:
        models = list(queryset[:2])
        if len(models) != 1:
            self.message_user(request, "Select exactly one version to make active.", messages.ERROR)
            return
        self._activate(request, models[0])

    def _activate(self, request: HttpRequest, model: RecommenderModel) -> None:
        # Imported here: the trainers (implicit, scipy) need not load with the admin.
        from recommendations.recommenders import recommender_model_switch

        if model.is_active:
            self.message_user(request, f"{model} is already the active version.", messages.WARNING)
            return
        try:
            previous = recommender_model_switch(model=model)
        except RecommenderModel.DoesNotExist:
            self.message_user(request, f"{model} is no longer kept: it was pruned.", messages.ERROR)
            return
        was = f"v{previous.version}" if previous else "none"
        direction = "rolled back" if previous and previous.version > model.version else "switched"
        # Who switched and from what: the admin's history (LogEntry) of this version.
        self.log_change(request, model, f"Made the active {model.kind} version ({direction} from {was}).")
        label = str(model.get_kind_display())
        self.message_user(
            request, f"{label[:1].upper()}{label[1:]}: v{model.version} now serves ({direction} from {was})."
        )

    def activate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST: the change page's "Make this version active" button."""
        return require_POST(self._activate_post)(request, pk)

    def _activate_post(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_activate_permission(request):
            raise PermissionDenied
        model = get_object_or_404(RecommenderModel, pk=pk)
        self._activate(request, model)
        return HttpResponseRedirect(reverse("admin:recommendations_recommendermodel_change", args=[model.pk]))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_activate": self.has_activate_permission(request)}
        return super().changeform_view(request, object_id, form_url, extra_context)

    def overview_view(self, request: HttpRequest) -> TemplateResponse:
        """admin/recommendations/overview.html: per kind its kept versions with their figures and the
        last training; the click-through of each list over CLICK_THROUGH_DAYS."""
        from events.selectors import list_click_through

        if not self.has_view_permission(request):
            raise PermissionDenied
        kinds = []
        labels = dict(RecommenderModel.Kind.choices)
        versions = list(RecommenderModel.objects.order_by("kind", "-version"))
        for kind in [*labels, *sorted({m.kind for m in versions} - set(labels))]:
            kept = [m for m in versions if m.kind == kind]
            rows = [
                {
                    "model": m,
                    "params": json.dumps(m.params, sort_keys=True),
                    "metrics": self.metrics_summary(m),
                    "evaluation": self.evaluation_summary(m),
                    "training_seconds": m.metrics.get("training_seconds"),
                    "peak_memory_mb": m.metrics.get("peak_memory_mb"),
                }
                for m in kept
            ]
            last = max(kept, key=lambda m: m.trained_at, default=None)
            kinds.append({"kind": kind, "label": labels.get(kind, kind), "versions": rows, "last": last})
        windows = []
        for days in CLICK_THROUGH_DAYS:
            lists = list_click_through(days=days)
            top = max((row.rate or 0 for row in lists), default=0)
            windows.append(
                {
                    "days": days,
                    "lists": [
                        {
                            "row": row,
                            "percent": row.rate * 100 if row.rate is not None else None,
                            "bar": round(100 * (row.rate or 0) / top) if top else 0,
                        }
                        for row in lists
                    ],
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Recommendations",
            "kinds": kinds,
            "windows": windows,
            "keep_versions": settings.RECOMMENDER_KEEP_VERSIONS,
            "train_seconds": settings.CELERY_BEAT_SCHEDULE.get("recommenders-train", {}).get("schedule"),
            "event_log_enabled": settings.EVENT_LOG_ENABLED,
            "can_activate": self.has_activate_permission(request),
        }
        return TemplateResponse(request, "admin/recommendations/overview.html", context)

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
