"""The view `catalog_product_v1`: the catalog as the catalog service's copy reads it.

The first step of moving the product table: its one reader outside this context (the catalog
service's `copy_catalog`, another project reading this database with plain SQL) reads this
view instead of the tables, so the tables behind it may change (a column renamed, the prices
moved to a table of their own, the table moved away) while the view keeps answering the same
columns. The view is the published contract; `_v1` because a second shape would be a second
view beside it, not a change to this one. The reverse drops it (the rollback of the step,
after the reader is back on the tables). Plain SQL that SQLite and PostgreSQL both accept.
"""

from django.db import migrations

CREATE_VIEW = """
CREATE VIEW catalog_product_v1 AS
SELECT p.id, p.sku, p.name, p.description, c.slug AS category, p.price_cents,
       p.created_at, p.updated_at
FROM catalog_product p JOIN catalog_category c ON c.id = p.category_id
"""


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [
        migrations.RunSQL(CREATE_VIEW, reverse_sql="DROP VIEW catalog_product_v1"),
    ]
