"""python manage.py purge_interactions [--days N]: delete the shop's events past the retention period."""

from django.core.management.base import BaseCommand, CommandError

from events.services import interactions_purge


class Command(BaseCommand):
    help = "Delete the events the shop logged that are older than EVENT_LOG_RETENTION_DAYS (or --days)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=None, help="Retention in days (default: the setting).")

    def handle(self, *args, days: int | None, **options) -> None:
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        deleted = interactions_purge(days=days)
        self.stdout.write(self.style.SUCCESS(f"{deleted} events deleted."))
