from django.apps import AppConfig


class EventsConfig(AppConfig):
    """The shop's memory of what shoppers do; the behavioural recommenders train on it."""

    name = "events"
    verbose_name = "Event log"

    def ready(self) -> None:
        from events import signals  # noqa: F401  (anonymous events join the account on login)
