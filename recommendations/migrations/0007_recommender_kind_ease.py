from django.db import migrations, models

# User-user (recommendations.selectors.USER_USER_SQL) reads the event log by product (who touched
# the history's products) and by shopper (each pool shopper's products and purchases). These indexes
# hold every column those reads need, so both are index-only scans. They are on events' table but
# serve only this read, so they live with it here (RunSQL: the events app's models do not change).
USER_USER_INDEXES = [
    (
        "interaction_product_shoppers",
        "(product_id, kind) INCLUDE (user_id, customer_key, session_key)",
        "",
    ),
    ("interaction_user_products", "(user_id, kind, product_id)", "WHERE user_id IS NOT NULL"),
    (
        "interaction_customer_products",
        "(customer_key, kind, product_id)",
        "WHERE customer_key <> '' AND user_id IS NULL",
    ),
    (
        "interaction_session_products",
        "(session_key, kind, product_id)",
        "WHERE session_key <> '' AND user_id IS NULL AND customer_key = ''",
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0006_matrix_factorisation"),
        ("events", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="recommendermodel",
            name="kind",
            field=models.CharField(
                choices=[
                    ("also_bought", "customers who bought this also bought"),
                    ("bought_together", "frequently bought together"),
                    ("als", "matrix factorisation (ALS)"),
                    ("bpr", "matrix factorisation (BPR)"),
                    ("ease", "EASE item-item (recommended for you)"),
                ],
                max_length=24,
                verbose_name="kind",
            ),
        ),
        *[
            migrations.RunSQL(
                f"CREATE INDEX IF NOT EXISTS {name} ON events_interaction {columns} {where}",
                f"DROP INDEX IF EXISTS {name}",
            )
            for name, columns, where in USER_USER_INDEXES
        ],
    ]
