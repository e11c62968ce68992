from django.urls import path

from shop import views
from shop.thumbnail_views import product_thumbnail

app_name = "shop"
urlpatterns = [
    path("", views.home, name="home"),
    path("products/<int:product_id>/", views.product_detail, name="product_detail"),
    path("search/photo/", views.photo_search, name="photo_search"),
    # Thumbnails: the fallback until the worker has made one.
    path("products/<int:product_id>/thumbnail/", product_thumbnail, name="product_thumbnail"),
]
