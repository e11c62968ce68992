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
    path("cart/", apis.CartApi.as_view(), name="cart"),
    path("cart/lines/", apis.CartLineListApi.as_view(), name="cart_lines"),
    path("cart/lines/<int:product_id>/", apis.CartLineDetailApi.as_view(), name="cart_line"),
    path("orders/", apis.OrderListApi.as_view(), name="order_list"),
    path("orders/<int:order_id>/", apis.OrderDetailApi.as_view(), name="order_detail"),
    path("auth/token/", apis.AuthTokenApi.as_view(), name="auth_token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
