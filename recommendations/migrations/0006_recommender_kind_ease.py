from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0005_embedding_colour_lab"),
    ]

    operations = [
        migrations.AlterField(
            model_name="recommendermodel",
            name="kind",
            field=models.CharField(
                choices=[
                    ("also_bought", "customers who bought this also bought"),
                    ("bought_together", "frequently bought together"),
                    ("ease", "EASE item-item (recommended for you)"),
                ],
                max_length=24,
                verbose_name="kind",
            ),
        ),
    ]
