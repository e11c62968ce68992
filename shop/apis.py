"""REST API for the catalogue: products and categories (read for everyone, write for staff)."""

from django.db.models import ProtectedError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import PUBLIC_AUTH, Conflict, error_responses
from shop import serializers as s
from shop.models import Category, Product
from shop.selectors import ProductFilters, category_tree, product_search
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
        parameters=[s.ProductFilterSerializer],
        responses={200: s.ProductSerializer(many=True), **error_responses(400, 404)},
        tags=["products"],
    )
    def get(self, request: Request) -> Response:
        params = s.ProductFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        filters = ProductFilters(
            q=data.get("q", ""),
            category_id=data.get("category"),
            gender=tuple(data.get("gender", ())),
            article_type=tuple(data.get("article_type", ())),
            colour=tuple(data.get("colour", ())),
            season=tuple(data.get("season", ())),
            usage=tuple(data.get("usage", ())),
            price_min=data.get("price_min"),
            price_max=data.get("price_max"),
            sort=data.get("sort", ""),
        )
        products = product_search(filters=filters).select_related("category__parent__parent")
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
        return _product_response(request, _product_for(request, product_id))

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
        description="The same token is returned until it is deleted in the admin.",
        request={
            "application/json": s.CredentialsSerializer,
            "multipart/form-data": s.CredentialsSerializer,
            "application/x-www-form-urlencoded": s.CredentialsSerializer,
        },
        responses={200: s.TokenSerializer, **error_responses(400)},
        tags=["auth"],
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        return super().post(request, *args, **kwargs)
