"""JSON API: similar items and search by photo."""

from django.conf import settings
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recommendations.selectors import (
    SimilarProduct,
    image_similar_list,
    product_embedding_status,
    product_similar_list,
)
from recommendations.services import active_model_name
from shop.images import ImageError, load_image
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


def _results(request: Request, items: list[SimilarProduct]) -> list[dict]:
    return SimilarProductSerializer(items, many=True, context={"request": request}).data


class ProductSimilarApi(APIView):
    """GET /api/products/<id>/similar/?k=5: the k products most visually similar to this one."""

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

    class InputSerializer(CountSerializer):
        image = serializers.FileField(allow_empty_file=True)

    def post(self, request: Request) -> Response:
        data = {key: request.data.get(key) for key in ("image", "k") if request.data.get(key) not in (None, "")}
        if "k" not in data and request.query_params.get("k"):
            data["k"] = request.query_params["k"]
        params = self.InputSerializer(data=data)
        params.is_valid(raise_exception=True)
        try:
            image = load_image(params.validated_data["image"])
        except ImageError as exc:
            raise serializers.ValidationError({"image": [str(exc)]}) from None
        items = image_similar_list(image=image, k=params.validated_data["k"])
        return Response({"model": active_model_name(), "results": _results(request, items)})
