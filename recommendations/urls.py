from django.urls import path

from recommendations import apis

app_name = "recommendations-api"
urlpatterns = [
    path("products/<int:product_id>/similar/", apis.ProductSimilarApi.as_view(), name="product_similar"),
    path("search/photo/", apis.PhotoSearchApi.as_view(), name="photo_search"),
]
