from django.urls import path

from shop import views

app_name = "shop"
urlpatterns = [
    path("", views.home, name="home"),
    path("products/", views.product_list_view, name="product_list"),
    path("products/<int:product_id>/", views.product_detail, name="product_detail"),
    path("categories/<int:category_id>/", views.category, name="category"),
    path("search/", views.search, name="search"),
    path("search/photo/", views.photo_search, name="photo_search"),
]
