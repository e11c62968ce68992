from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    """Offline evaluation: the evaluate_recommendations and build_photo_queries commands."""

    name = "evaluation"
    verbose_name = "Evaluation"
