from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Offline tooling for `make demo`: the drawn catalogue and the load_demo command."""

    name = "demo"
    verbose_name = "Demo"
