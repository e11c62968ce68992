"""JSON API: similar items and search by photo."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import PUBLIC_AUTH, PhotoSearchThrottle, error_responses
from recommendations.models import ProductEmbedding
from recommendations.selectors import (
    SimilarProduct,
    image_search,
    product_embedding_status,
    product_similar_list,
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
