"""Text search: pg_trgm, a stored weighted search vector kept by triggers, and GIN indexes.

The vector includes the names of the product's article type, sub-category and master category,
which live in another table, so a generated column cannot hold it; triggers keep it current for
every write path (save, bulk_create, the importer, raw SQL) and when a category is renamed.
"""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

CREATE_TRIGGERS = """
CREATE FUNCTION shop_product_search_vector_update() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    category_path text;
BEGIN
    SELECT concat_ws(' ', article.name, sub.name, master.name) INTO category_path
    FROM shop_category article
    LEFT JOIN shop_category sub ON sub.id = article.parent_id
    LEFT JOIN shop_category master ON master.id = sub.parent_id
    WHERE article.id = NEW.category_id;
    NEW.search_vector :=
        setweight(to_tsvector('english', coalesce(NEW.name, '')), 'A')
        || setweight(to_tsvector('english', coalesce(category_path, '')), 'B')
        || setweight(to_tsvector('english', concat_ws(' ', NEW.brand, NEW.base_colour, NEW.gender,
                                                      NEW.usage, NEW.season)), 'C')
        || setweight(to_tsvector('english', coalesce(NEW.description, '')), 'D');
    RETURN NEW;
END
$$;

CREATE TRIGGER shop_product_search_vector
BEFORE INSERT OR UPDATE ON shop_product
FOR EACH ROW EXECUTE FUNCTION shop_product_search_vector_update();

CREATE FUNCTION shop_category_search_vector_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Touching the rows runs the product trigger, which reads the new names.
    UPDATE shop_product SET search_vector = NULL
    WHERE category_id IN (
        SELECT id FROM shop_category
        WHERE id = NEW.id OR parent_id = NEW.id
           OR parent_id IN (SELECT id FROM shop_category WHERE parent_id = NEW.id)
    );
    RETURN NULL;
END
$$;

CREATE TRIGGER shop_category_search_vector
AFTER UPDATE OF name, parent_id ON shop_category
FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.parent_id IS DISTINCT FROM NEW.parent_id)
EXECUTE FUNCTION shop_category_search_vector_update();

UPDATE shop_product SET search_vector = NULL;
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS shop_category_search_vector ON shop_category;
DROP FUNCTION IF EXISTS shop_category_search_vector_update();
DROP TRIGGER IF EXISTS shop_product_search_vector ON shop_product;
DROP FUNCTION IF EXISTS shop_product_search_vector_update();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0002_cart_orders_stock_thumbnail"),
    ]

    operations = [
        TrigramExtension(),
        migrations.AddField(
            model_name="product",
            name="search_vector",
            field=django.contrib.postgres.search.SearchVectorField(
                editable=False, null=True, verbose_name="search vector"
            ),
        ),
        migrations.RunSQL(CREATE_TRIGGERS, DROP_TRIGGERS),
        migrations.AddIndex(
            model_name="product",
            index=django.contrib.postgres.indexes.GinIndex(fields=["search_vector"], name="product_search_vector_gin"),
        ),
        migrations.AddIndex(
            model_name="product",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["name"], name="product_name_trgm", opclasses=["gin_trgm_ops"]
            ),
        ),
    ]
