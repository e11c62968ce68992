"""JSON API: similar items and search by photo."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import PUBLIC_AUTH, PhotoSearchThrottle, RecommendationsThrottle, error_responses
from events.services import SESSION_EVENTS_KEY
from recommendations.models import ProductEmbedding
from recommendations.selectors import (
    SimilarProduct,
    image_search,
    product_also_bought_list,
    product_embedding_status,
    product_similar_list,
    products_bought_together_list,
    recommender_model_active,
    shopper_recommended_list,
)
from recommendations.services import active_model_name
from shop.images import ImageError, load_image
from shop.models import Category
from shop.selectors import product_get


class SimilarProductSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="product.id")
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    url = serializers.SerializerMethodField()
    image_url = serializers.SerializerMethodField()
    score = serializers.FloatField()

    def get_url(self, item: SimilarProduct) -> str:
        return self.context["request"].build_absolute_uri(item.product.get_absolute_url())

    def get_image_url(self, item: SimilarProduct) -> str | None:
        image = item.product.image
        return self.context["request"].build_absolute_uri(image.url) if image else None


class CountSerializer(serializers.Serializer):
    k = serializers.IntegerField(min_value=1, max_value=settings.SEARCH_RESULTS_MAX, default=5)


class SimilarListSerializer(serializers.Serializer):
    product = serializers.IntegerField(help_text="The product asked about.")
    model = serializers.CharField(help_text="The embedding model that ranked the results.")
    status = serializers.ChoiceField(
        choices=[*ProductEmbedding.Status.values, "missing"],
        help_text="The product's own embedding; results are empty until it is ready.",
    )
    results = SimilarProductSerializer(many=True)


class PhotoKindSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="category.id")
    name = serializers.CharField(source="category.name")
    probability = serializers.FloatField(help_text="The classifier's and the nearest products' votes, fused.")


class PhotoSearchResultSerializer(serializers.Serializer):
    model = serializers.CharField(help_text="The embedding model that ranked the results.")
    results = SimilarProductSerializer(many=True)
    kinds = PhotoKindSerializer(
        many=True, help_text="The article types the photo most likely shows, likeliest first (pass one as `category`)."
    )
    weak_match = serializers.BooleanField(help_text="The best result's score is below PHOTO_SEARCH_WEAK_SCORE.")


def _results(request: Request, items: list[SimilarProduct]) -> list[dict]:
    return SimilarProductSerializer(items, many=True, context={"request": request}).data


class ProductSimilarApi(APIView):
    """GET /api/products/<id>/similar/?k=5: the k products most visually similar to this one."""

    @extend_schema(
        operation_id="products_similar_list",
        auth=PUBLIC_AUTH,
        summary="Visually similar products",
        description="Best first; `score` is the cosine similarity of the two images' embeddings.",
        parameters=[CountSerializer],
        responses={200: SimilarListSerializer, **error_responses(400, 404)},
        tags=["recommendations"],
    )
    def get(self, request: Request, product_id: int) -> Response:
        params = CountSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        product = product_get(product_id=product_id)
        embedding = product_embedding_status(product=product)
        items = product_similar_list(product=product, k=params.validated_data["k"])
        return Response(
            {
                "product": product.pk,
                "model": active_model_name(),
                "status": embedding.status if embedding else "missing",
                "results": _results(request, items),
            }
        )


class PhotoSearchApi(APIView):
    """POST /api/search/photo/ (multipart `image`, optional `k`): products similar to a photo."""

    parser_classes = [MultiPartParser, FormParser]
    # The image model runs on every request: PHOTO_SEARCH_THROTTLE_RATE per user (or per IP for guests),
    # counted together with the storefront's form.
    throttle_classes = [PhotoSearchThrottle]

    class InputSerializer(CountSerializer):
        image = serializers.FileField(allow_empty_file=True)
        category = serializers.PrimaryKeyRelatedField(
            queryset=Category.objects.all(),
            required=False,
            help_text="Search within this category (e.g. one of `kinds`) and its sub-types; the rest is filled "
            "from the whole catalogue when it holds fewer than k products.",
        )

    @extend_schema(
        operation_id="search_photo_create",
        auth=PUBLIC_AUTH,
        summary="Search by photo",
        description=(
            "Upload a photo (multipart `image`: JPEG, PNG, GIF, WebP, BMP or TIFF); get the most similar products, "
            "best first. `k` may also be given in the query string. Rate-limited (PHOTO_SEARCH_THROTTLE_RATE)."
        ),
        request={"multipart/form-data": InputSerializer},
        parameters=[
            OpenApiParameter("k", int, OpenApiParameter.QUERY, description="Number of results (1-50, default 5).")
        ],
        responses={200: PhotoSearchResultSerializer, **error_responses(400, 429)},
        tags=["recommendations"],
    )
    def post(self, request: Request) -> Response:
        keys = ("image", "k", "category")
        data = {key: request.data.get(key) for key in keys if request.data.get(key) not in (None, "")}
        if "k" not in data and request.query_params.get("k"):
            data["k"] = request.query_params["k"]
        params = self.InputSerializer(data=data)
        params.is_valid(raise_exception=True)
        try:
            image = load_image(params.validated_data["image"])
        except ImageError as exc:
            raise serializers.ValidationError({"image": [str(exc)]}) from None
        found = image_search(image=image, k=params.validated_data["k"], category=params.validated_data.get("category"))
        return Response(
            {
                "model": active_model_name(),
                "results": _results(request, found.results),
                "kinds": PhotoKindSerializer(found.kinds, many=True).data,
                "weak_match": found.weak_match,
            }
        )


class BehaviourListSerializer(serializers.Serializer):
    product = serializers.IntegerField(help_text="The product asked about.")
    model = serializers.CharField(
        allow_null=True, help_text='The recommender version that made the list ("also_bought v3"); null before any.'
    )
    results = SimilarProductSerializer(many=True)


def _cart_product_ids(request: Request) -> list[int]:
    """What the shopper already has in the cart (logged in, or the browser session's), never recommended."""
    from shop.cart import cart_get

    session = getattr(request, "session", None)
    if not request.user.is_authenticated and session is None:
        return []
    return list(cart_get(user=request.user, session=session if session is not None else {}).quantities())


def _behaviour_response(request: Request, product_id: int, kind: str, items: list[SimilarProduct]) -> Response:
    model = recommender_model_active(kind=kind)
    name = str(model) if model else None
    return Response({"product": product_id, "model": name, "results": _results(request, items)})


class ProductAlsoBoughtApi(APIView):
    """GET /api/products/<id>/also-bought/?k=5: "customers who bought this also bought"."""

    @extend_schema(
        operation_id="products_also_bought_list",
        auth=PUBLIC_AUTH,
        summary="Customers who bought this also bought",
        description=(
            "Products that the same shoppers bought (and, with less weight, viewed or put in their cart), best first; "
            "`score` is the item-item similarity of the active `also_bought` model (trained from the event log). "
            "Only products on sale and in stock, never the product itself or what is in the shopper's cart; "
            "empty when there is not enough evidence."
        ),
        parameters=[CountSerializer],
        responses={200: BehaviourListSerializer, **error_responses(400, 404)},
        tags=["recommendations"],
    )
    def get(self, request: Request, product_id: int) -> Response:
        params = CountSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        product = product_get(product_id=product_id)
        items = product_also_bought_list(
            product=product, k=params.validated_data["k"], exclude_ids=_cart_product_ids(request)
        )
        return _behaviour_response(request, product.pk, "also_bought", items)


class ProductBoughtTogetherApi(APIView):
    """GET /api/products/<id>/bought-together/?k=5: "frequently bought together" (same baskets)."""

    @extend_schema(
        operation_id="products_bought_together_list",
        auth=PUBLIC_AUTH,
        summary="Frequently bought together",
        description=(
            "Products bought in the same orders as this one, best first; `score` is how often they share a basket, "
            "damped for best-sellers (active `bought_together` model). Only products on sale and in stock, never the "
            "product itself or what is in the shopper's cart; empty when there is not enough evidence."
        ),
        parameters=[CountSerializer],
        responses={200: BehaviourListSerializer, **error_responses(400, 404)},
        tags=["recommendations"],
    )
    def get(self, request: Request, product_id: int) -> Response:
        params = CountSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        product = product_get(product_id=product_id)
        items = products_bought_together_list(
            product_ids=[product.pk], k=params.validated_data["k"], exclude_ids=_cart_product_ids(request)
        )
        return _behaviour_response(request, product.pk, "bought_together", items)


class RecommendedProductSerializer(SimilarProductSerializer):
    score = serializers.FloatField(help_text="The served blend's score (item-item and recent best-sellers).")
    reason = serializers.CharField(help_text='Why it is shown: "Because you viewed <name>", "Popular this week"...')


class RecommendedListSerializer(serializers.Serializer):
    model = serializers.CharField(
        allow_null=True,
        help_text='The also_bought version whose neighbours were used ("also_bought v3"); null before any.',
    )
    strategy = serializers.ChoiceField(
        choices=["personal", "popular"],
        help_text="personal: from the shopper's own history; popular: recent best-sellers only.",
    )
    results = RecommendedProductSerializer(many=True)


class ShopperRecommendedApi(APIView):
    """GET /api/recommendations/?k=12: "Recommended for you" for the current user or session."""

    # Computed per request (history, neighbours, best-sellers): RECOMMENDATIONS_THROTTLE_RATE per
    # user (or IP for guests), like the other endpoints that compute per request.
    throttle_classes = [RecommendationsThrottle]

    class InputSerializer(serializers.Serializer):
        k = serializers.IntegerField(min_value=1, max_value=50, default=12)

    @extend_schema(
        operation_id="recommendations_list",
        auth=PUBLIC_AUTH,
        summary="Recommended for you",
        description=(
            "The home page's list for the logged-in shopper, else the browser session: products similar (active "
            "`also_bought` model) to what the shopper bought, put in the cart or viewed, blended with the last week's "
            "best-sellers; a shopper without such history gets the best-sellers (`strategy` popular). Only products "
            "on sale and in stock, never what the shopper bought or has in the cart. The history is read live: new "
            "views change the list at once. Rate-limited per user or IP (RECOMMENDATIONS_THROTTLE_RATE, default "
            "120/minute): 429 with `Retry-After` beyond it."
        ),
        parameters=[InputSerializer],
        responses={200: RecommendedListSerializer, **error_responses(400, 429)},
        tags=["recommendations"],
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        session = getattr(request, "session", None)
        found = shopper_recommended_list(
            user=request.user,
            # Anonymous events are logged under the session's first key (events.services.session_shopper_key).
            session_key=(session.get(SESSION_EVENTS_KEY) or session.session_key or "") if session is not None else "",
            k=params.validated_data["k"],
            exclude_ids=_cart_product_ids(request),
        )
        results = RecommendedProductSerializer(found.items, many=True, context={"request": request}).data
        return Response({"model": found.model, "strategy": found.strategy, "results": results})
