from django.urls import path

from recommendations import apis

app_name = "recommendations-api"
urlpatterns = [
    path("products/<int:product_id>/similar/", apis.ProductSimilarApi.as_view(), name="product_similar"),
    path("products/<int:product_id>/also-bought/", apis.ProductAlsoBoughtApi.as_view(), name="product_also_bought"),
    path(
        "products/<int:product_id>/bought-together/",
        apis.ProductBoughtTogetherApi.as_view(),
        name="product_bought_together",
    ),
    path("recommendations/", apis.ShopperRecommendedApi.as_view(), name="recommendations"),
    path("search/photo/", apis.PhotoSearchApi.as_view(), name="photo_search"),
]
