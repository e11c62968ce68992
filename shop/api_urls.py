"""REST API routes mounted at /api/ (the recommendation endpoints live in recommendations/urls.py)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from shop import apis

app_name = "api"
urlpatterns = [
    path("products/", apis.ProductListApi.as_view(), name="product_list"),
    path("products/<int:product_id>/", apis.ProductDetailApi.as_view(), name="product_detail"),
    path("categories/", apis.CategoryListApi.as_view(), name="category_list"),
    path("categories/<int:category_id>/", apis.CategoryDetailApi.as_view(), name="category_detail"),
    path("auth/token/", apis.AuthTokenApi.as_view(), name="auth_token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
