import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0004_behavioural_recommenders"),
    ]

    operations = [
        migrations.AddField(
            model_name="productembedding",
            name="colour_lab",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.FloatField(), blank=True, null=True, size=3, verbose_name="colour (Lab)"
            ),
        ),
    ]
