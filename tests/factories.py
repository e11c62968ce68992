"""Small builders for test data: products, images and vectors made here, not downloaded."""

from __future__ import annotations

import io
from decimal import Decimal

import numpy as np
from django.core.files.base import ContentFile
from PIL import Image

from recommendations.models import EMBEDDING_DIMENSIONS, ProductEmbedding
from shop.models import Product


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def solid_image(colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (60, 80)) -> Image.Image:
    return Image.new("RGB", size, colour)


def product_with_image(sku: str, image: Image.Image | bytes, name: str | None = None, **fields) -> Product:
    """Save a product with an image through the normal save path (signals included); on sale
    (a price, in stock) unless the fields say otherwise."""
    fields.setdefault("price", Decimal("499.00"))
    fields.setdefault("stock", 10)
    data = image if isinstance(image, bytes) else jpeg_bytes(image)
    product = Product(sku=sku, name=name or f"Product {sku}", **fields)
    product.image.save(f"{sku}.jpg", ContentFile(data), save=False)
    product.save()
    return product


def clustered_vectors(
    count: int, dims: int, clusters: int = 300, seed: int = 0, noise: tuple[float, float] = (0.2, 2.0)
) -> np.ndarray:
    """Unit vectors around many centres at varied distances, closer to real image embeddings
    than uniform noise (and with fewer exact ties among a query's nearest neighbours)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dims))
    spread = rng.uniform(*noise, size=(count, 1))
    vectors = centres[rng.integers(0, clusters, count)] + spread * rng.normal(size=(count, dims))
    vectors = np.abs(vectors)  # image features after ReLU are non-negative
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def products_with_vectors(
    vectors: np.ndarray, model_name: str = "efficientnet_lite0", sku_prefix: str = "V"
) -> list[Product]:
    """Products on sale with ready embeddings, written in bulk (no images, no tasks)."""
    assert vectors.shape[1] == EMBEDDING_DIMENSIONS[model_name]
    products = Product.objects.bulk_create(
        [
            Product(sku=f"{sku_prefix}{i:06d}", name=f"Vector product {i}", price=Decimal("10.00"), stock=10)
            for i in range(len(vectors))
        ]
    )
    ProductEmbedding.objects.bulk_create(
        [
            ProductEmbedding(
                product=product,
                model_name=model_name,
                status=ProductEmbedding.Status.READY,
                source_sha256="test",
                vector=vector,
            )
            for product, vector in zip(products, vectors, strict=True)
        ],
        batch_size=500,
    )
    return products
