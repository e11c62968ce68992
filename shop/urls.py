from django.urls import path

from shop import account_views, cart_views, views

app_name = "shop"
urlpatterns = [
    path("", views.home, name="home"),
    path("products/<int:product_id>/", views.product_detail, name="product_detail"),
    path("search/photo/", views.photo_search, name="photo_search"),
    # --- Cart, checkout, orders and accounts ---
    path("cart/", cart_views.cart_detail, name="cart"),
    path("cart/add/<int:product_id>/", cart_views.cart_add, name="cart_add"),
    path("cart/update/<int:product_id>/", cart_views.cart_update, name="cart_update"),
    path("cart/remove/<int:product_id>/", cart_views.cart_remove, name="cart_remove"),
    path("checkout/", cart_views.checkout, name="checkout"),
    path("orders/<int:order_id>/", cart_views.order_detail, name="order_detail"),
    path("accounts/orders/", account_views.order_history, name="order_history"),
    path("accounts/signup/", account_views.signup, name="signup"),
]
