"""The expression the HNSW indexes are built on, in one place for the ORM and for raw SQL.

Vectors are stored as `vector` and indexed as `halfvec(D)` (HNSW takes `vector` only up to 2,000
dimensions; ResNet50 has 2,048). A query uses the index only with this same expression, so the
index definition (models.py), the similarity SQL (selectors.py) and the benchmarks all take it
from here. Importable without Django settings (the benchmarks run outside Django).
"""

from django.db.models.functions import Cast
from pgvector.django import HalfVectorField

from recommendations.embeddings import MODEL_DIMENSIONS


def halfvec_field(model_name: str) -> HalfVectorField:
    return HalfVectorField(dimensions=MODEL_DIMENSIONS[model_name])


def halfvec_expression(model_name: str) -> Cast:
    """The indexed expression for a model's vectors (the `vector` column as halfvec(D))."""
    return Cast("vector", halfvec_field(model_name))


def halfvec_sql(operand: str, model_name: str) -> str:
    """The same cast as SQL text for raw queries: `<operand>::halfvec(D)`, e.g. a column or `%s`."""
    return f"{operand}::{halfvec_field(model_name).db_type(connection=None)}"


def bit_sql(operand: str, model_name: str) -> str:
    """The binary-quantized form of a vector as SQL text: `binary_quantize(<operand>)::bit(D)`, one
    bit per dimension (1 where the value is positive), for an HNSW index with bit_hamming_ops."""
    return f"binary_quantize({operand})::bit({MODEL_DIMENSIONS[model_name]})"
