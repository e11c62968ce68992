from django.urls import path

from shop import views

app_name = "shop"
urlpatterns = [
    path("", views.home, name="home"),
    path("products/<int:product_id>/", views.product_detail, name="product_detail"),
    path("search/photo/", views.photo_search, name="photo_search"),
]
