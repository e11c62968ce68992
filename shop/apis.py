"""REST API: products and categories (read for everyone, write for staff); cart and orders (own only)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import NotFound, Throttled, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import PUBLIC_AUTH, Conflict, error_responses
from events.models import Interaction
from events.services import interaction_record_request
from shop import serializers as s
from shop.cart import DbCart, cart_add, cart_remove, cart_summary, cart_update
from shop.checkout import CheckoutError, order_get_for_user, order_list_for_user, order_place
from shop.filters import ProductFilterSet
from shop.login_throttle import LOCKED_MESSAGE, login_retry_after
from shop.models import Category, Product
from shop.selectors import category_tree
from shop.services import (
    CategoryInUse,
    category_create,
    category_delete,
    category_update,
    product_create,
    product_deactivate,
    product_update,
)


class ReadOnly(BasePermission):
    def has_permission(self, request: Request, view) -> bool:
        return request.method in SAFE_METHODS


STAFF_WRITES = [ReadOnly | IsAdminUser]

WRITE_ERRORS = (400, 401, 403)


def _product_for(request: Request, product_id: int) -> Product:
    """Staff also reach inactive products (to edit or re-activate them); everyone else only active ones."""
    products = Product.objects.select_related("category__parent__parent")
    if not request.user.is_staff:
        products = products.filter(is_active=True)
    return get_object_or_404(products, pk=product_id)


def _product_response(request: Request, product: Product, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(s.ProductSerializer(product, context={"request": request}).data, status=status_code)


class ProductListApi(APIView):
    """GET /api/products/ (filters, search, sort, page); POST /api/products/ (staff)."""

    permission_classes = STAFF_WRITES
    pagination_class = PageNumberPagination
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        operation_id="products_list",
        auth=PUBLIC_AUTH,
        summary="List, filter, search and sort products",
        description=(
            "The storefront's listing: active products only. List parameters may repeat "
            "(`?colour=Red&colour=Blue` means either). Prices compare the unit price (discounted if any)."
        ),
        parameters=ProductFilterSet.schema_parameters(),
        responses={200: s.ProductSerializer(many=True), **error_responses(400, 404)},
        tags=["products"],
    )
    def get(self, request: Request) -> Response:
        filterset = ProductFilterSet(request.query_params)
        if not filterset.is_valid():
            raise ValidationError({name: list(errors) for name, errors in filterset.errors.items()})
        products = filterset.qs.select_related("category__parent__parent")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(products, request, view=self)
        return paginator.get_paginated_response(s.ProductSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        operation_id="products_create",
        summary="Create a product (staff)",
        description="JSON, or multipart with an `image` file; the image is fully decoded before it is accepted.",
        request={
            "multipart/form-data": s.ProductInputSerializer,
            "application/json": s.ProductInputSerializer,
        },
        responses={201: s.ProductSerializer, **error_responses(*WRITE_ERRORS)},
        tags=["products"],
    )
    def post(self, request: Request) -> Response:
        params = s.ProductInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        product = product_create(data=params.validated_data)
        return _product_response(request, product, status.HTTP_201_CREATED)


class ProductDetailApi(APIView):
    """GET/PUT/PATCH/DELETE /api/products/<id>/."""

    permission_classes = STAFF_WRITES
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        operation_id="products_retrieve",
        auth=PUBLIC_AUTH,
        summary="One product",
        description="Active products for everyone; staff also get inactive ones.",
        responses={200: s.ProductSerializer, **error_responses(404)},
        tags=["products"],
    )
    def get(self, request: Request, product_id: int) -> Response:
        product = _product_for(request, product_id)
        interaction_record_request(
            request=request,
            product_id=product.pk,
            kind=Interaction.Kind.VIEW,
            surface=Interaction.Surface.API,
            new_session=False,  # API clients rarely keep cookies: only known shoppers are logged
        )
        return _product_response(request, product)

    @extend_schema(
        operation_id="products_update",
        summary="Replace a product's fields (staff)",
        request={
            "multipart/form-data": s.ProductInputSerializer,
            "application/json": s.ProductInputSerializer,
        },
        responses={200: s.ProductSerializer, **error_responses(*WRITE_ERRORS, 404)},
        tags=["products"],
    )
    def put(self, request: Request, product_id: int) -> Response:
        return self._update(request, product_id, partial=False)

    @extend_schema(
        operation_id="products_partial_update",
        summary="Change some of a product's fields (staff)",
        request={
            "multipart/form-data": s.ProductInputSerializer(partial=True),
            "application/json": s.ProductInputSerializer(partial=True),
        },
        responses={200: s.ProductSerializer, **error_responses(*WRITE_ERRORS, 404)},
        tags=["products"],
    )
    def patch(self, request: Request, product_id: int) -> Response:
        return self._update(request, product_id, partial=True)

    def _update(self, request: Request, product_id: int, *, partial: bool) -> Response:
        product = _product_for(request, product_id)
        params = s.ProductInputSerializer(data=request.data, partial=partial)
        params.is_valid(raise_exception=True)
        product = product_update(product=product, data=params.validated_data)
        return _product_response(request, product)

    @extend_schema(
        operation_id="products_destroy",
        summary="Take a product off sale (staff)",
        description=(
            "Deactivates the product (`is_active` false): it leaves the storefront and the public API, "
            "while orders keep their link to it and staff can re-activate it with PATCH. "
            "Deleting for good is done in the admin."
        ),
        responses={204: OpenApiResponse(description="Deactivated."), **error_responses(401, 403, 404)},
        tags=["products"],
    )
    def delete(self, request: Request, product_id: int) -> Response:
        product_deactivate(product=_product_for(request, product_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CategoryListApi(APIView):
    """GET /api/categories/ (the tree, paginated by master category); POST /api/categories/ (staff)."""

    permission_classes = STAFF_WRITES
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="categories_list",
        auth=PUBLIC_AUTH,
        summary="The category tree",
        description=(
            "Master categories, each with its sub-categories and their article types, with counts of active "
            "products. Empty categories are included. Paginated by master category."
        ),
        responses={200: s.CategoryTreeSerializer(many=True), **error_responses(404)},
        tags=["categories"],
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(category_tree(with_empty=True), request, view=self)
        return paginator.get_paginated_response(s.CategoryTreeSerializer(page, many=True).data)

    @extend_schema(
        operation_id="categories_create",
        summary="Create a category (staff)",
        description="Level follows the parent: no parent → master category, then sub-category, then article type.",
        request=s.CategoryInputSerializer,
        responses={201: s.CategorySerializer, **error_responses(*WRITE_ERRORS)},
        tags=["categories"],
    )
    def post(self, request: Request) -> Response:
        params = s.CategoryInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        category = category_create(**params.validated_data)
        return Response(s.CategorySerializer(category).data, status=status.HTTP_201_CREATED)


class CategoryDetailApi(APIView):
    """GET/PATCH/DELETE /api/categories/<id>/."""

    permission_classes = STAFF_WRITES

    def _category(self, category_id: int) -> Category:
        return get_object_or_404(Category.objects.select_related("parent__parent"), pk=category_id)

    @extend_schema(
        operation_id="categories_retrieve",
        auth=PUBLIC_AUTH,
        summary="One category, with its path from the root",
        responses={200: s.CategorySerializer, **error_responses(404)},
        tags=["categories"],
    )
    def get(self, request: Request, category_id: int) -> Response:
        return Response(s.CategorySerializer(self._category(category_id)).data)

    @extend_schema(
        operation_id="categories_partial_update",
        summary="Rename or move a category (staff)",
        description=(
            "A category cannot move under itself or its own sub-categories, nor below an article type; "
            "one with sub-categories or products can only move to another parent of the same level."
        ),
        request=s.CategoryUpdateSerializer,
        responses={200: s.CategorySerializer, **error_responses(*WRITE_ERRORS, 404)},
        tags=["categories"],
    )
    def patch(self, request: Request, category_id: int) -> Response:
        category = self._category(category_id)
        params = s.CategoryUpdateSerializer(data=request.data, partial=True)
        params.is_valid(raise_exception=True)
        category = category_update(category=category, data=params.validated_data)
        return Response(s.CategorySerializer(category).data)

    @extend_schema(
        operation_id="categories_destroy",
        summary="Delete an empty category (staff)",
        description="409 while the category has sub-categories or products.",
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(401, 403, 404, 409)},
        tags=["categories"],
    )
    def delete(self, request: Request, category_id: int) -> Response:
        category = self._category(category_id)
        try:
            category_delete(category=category)
        except (CategoryInUse, ProtectedError) as exc:
            message = str(exc) if isinstance(exc, CategoryInUse) else "The category is still in use."
            raise Conflict(message) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuthTokenApi(ObtainAuthToken):
    """POST /api/auth/token/: a username and password in exchange for the user's API token."""

    @extend_schema(
        operation_id="auth_token_create",
        auth=PUBLIC_AUTH,
        summary="Get an API token",
        description=(
            "The same token is returned until it is deleted in the admin. After LOGIN_FAILURE_RATE failed "
            "logins (default 10 an hour) from one IP or for one username, 429 until the hour is over."
        ),
        request={
            "application/json": s.CredentialsSerializer,
            "multipart/form-data": s.CredentialsSerializer,
            "application/x-www-form-urlencoded": s.CredentialsSerializer,
        },
        responses={200: s.TokenSerializer, **error_responses(400, 415, 429)},
        tags=["auth"],
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        # Locked out after repeated failures (shop.login_throttle): refused before the password is checked.
        username = request.data.get("username") if hasattr(request.data, "get") else None
        wait = login_retry_after(request, username)
        if wait:
            raise Throttled(wait, detail=LOCKED_MESSAGE)
        return super().post(request, *args, **kwargs)


# --- Cart and orders (the logged-in user's own) ---


def _cart_response(request: Request, cart: DbCart, status_code: int = status.HTTP_200_OK) -> Response:
    summary = cart_summary(cart=cart)
    body = {
        "lines": summary.lines,
        "count": summary.count,
        "total": summary.total,
        "is_orderable": summary.is_orderable,
    }
    return Response(s.CartSerializer(body, context={"request": request}).data, status=status_code)


class CartApi(APIView):
    """GET /api/cart/: the user's cart priced from today's products."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="cart_retrieve",
        summary="The user's cart",
        responses={200: s.CartSerializer, **error_responses(401)},
        tags=["cart"],
    )
    def get(self, request: Request) -> Response:
        return _cart_response(request, DbCart(request.user))


class CartLineListApi(APIView):
    """POST /api/cart/lines/: add a product to the user's cart."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="cart_lines_create",
        summary="Add a product to the cart",
        description=(
            "Adds `quantity` to the product's line (created if needed). Refused (400) for an unknown, "
            "inactive, unpriced or out-of-stock product, or beyond the stock or the per-product maximum."
        ),
        request=s.CartLineInputSerializer,
        responses={201: s.CartSerializer, **error_responses(400, 401)},
        tags=["cart"],
    )
    def post(self, request: Request) -> Response:
        params = s.CartLineInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        cart = DbCart(request.user)
        try:
            cart_add(cart=cart, product_id=params.validated_data["product"], quantity=params.validated_data["quantity"])
        except DjangoValidationError as exc:
            raise ValidationError({"product": exc.messages}) from None
        return _cart_response(request, cart, status.HTTP_201_CREATED)


class CartLineDetailApi(APIView):
    """PATCH/DELETE /api/cart/lines/<product_id>/: change or remove one line of the user's cart."""

    permission_classes = [IsAuthenticated]

    def _cart_with(self, request: Request, product_id: int) -> DbCart:
        cart = DbCart(request.user)
        if product_id not in cart.quantities():
            raise NotFound("This product is not in your cart.")
        return cart

    @extend_schema(
        operation_id="cart_lines_partial_update",
        summary="Change a line's quantity (0 removes it)",
        request=s.CartLineUpdateSerializer,
        responses={200: s.CartSerializer, **error_responses(400, 401, 404)},
        tags=["cart"],
    )
    def patch(self, request: Request, product_id: int) -> Response:
        params = s.CartLineUpdateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        cart = self._cart_with(request, product_id)
        try:
            cart_update(cart=cart, product_id=product_id, quantity=params.validated_data["quantity"])
        except DjangoValidationError as exc:
            raise ValidationError({"quantity": exc.messages}) from None
        return _cart_response(request, cart)

    @extend_schema(
        operation_id="cart_lines_destroy",
        summary="Remove a line",
        responses={204: OpenApiResponse(description="Removed."), **error_responses(401, 404)},
        tags=["cart"],
    )
    def delete(self, request: Request, product_id: int) -> Response:
        cart_remove(cart=self._cart_with(request, product_id), product_id=product_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrderListApi(APIView):
    """GET /api/orders/ (the user's own, newest first); POST /api/orders/ (check out the user's cart)."""

    permission_classes = [IsAuthenticated]
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="orders_list",
        summary="The user's orders",
        responses={200: s.OrderSerializer(many=True), **error_responses(401, 404)},
        tags=["orders"],
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(order_list_for_user(user=request.user), request, view=self)
        return paginator.get_paginated_response(s.OrderSerializer(page, many=True).data)

    @extend_schema(
        operation_id="orders_create",
        summary="Place an order from the cart",
        description=(
            "Pay on delivery. Stock is checked and taken under row locks; the cart is emptied. 409 when the cart "
            "is empty, an item ran out or became unavailable, or the total differs from `expected_total`; "
            "nothing is ordered then and the error names the items."
        ),
        request=s.CheckoutInputSerializer,
        responses={201: s.OrderSerializer, **error_responses(400, 401, 409)},
        tags=["orders"],
    )
    def post(self, request: Request) -> Response:
        params = s.CheckoutInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        details = dict(params.validated_data)
        expected_total = details.pop("expected_total", None)
        try:
            order = order_place(
                cart=DbCart(request.user), user=request.user, details=details, expected_total=expected_total
            )
        except CheckoutError as exc:
            raise Conflict(" ".join(exc.messages)) from None
        return Response(s.OrderSerializer(order).data, status=status.HTTP_201_CREATED)


class OrderDetailApi(APIView):
    """GET /api/orders/<id>/: one of the user's own orders; anyone else's is a 404."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="orders_retrieve",
        summary="One of the user's orders",
        responses={200: s.OrderSerializer, **error_responses(401, 404)},
        tags=["orders"],
    )
    def get(self, request: Request, order_id: int) -> Response:
        order = order_get_for_user(order_id=order_id, user=request.user)
        if order is None:
            raise NotFound("No order with this number in your account.")
        return Response(s.OrderSerializer(order).data)
