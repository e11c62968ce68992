"""System checks of the recommenders' settings (run by manage.py check, runserver, migrate...)."""

from django.conf import settings
from django.core import checks

# The active version, the one before it (to roll back to) and the one after (to roll forward again).
MIN_KEEP_VERSIONS_FOR_ROLLBACK = 3


@checks.register(checks.Tags.compatibility)
def recommender_keep_versions_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """RECOMMENDER_KEEP_VERSIONS must keep the active version; fewer than 3 leave no room to roll back."""
    keep = settings.RECOMMENDER_KEEP_VERSIONS
    if keep < 1:
        return [
            checks.Error(
                f"RECOMMENDER_KEEP_VERSIONS is {keep}: at least the active version must be kept.",
                id="recommendations.E001",
            )
        ]
    if keep < MIN_KEEP_VERSIONS_FOR_ROLLBACK:
        return [
            checks.Warning(
                f"RECOMMENDER_KEEP_VERSIONS is {keep}: the admin can roll a recommender back only to a kept "
                f"version, and back again; keep at least {MIN_KEEP_VERSIONS_FOR_ROLLBACK}.",
                id="recommendations.W001",
            )
        ]
    return []
