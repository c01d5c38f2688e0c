"""python manage.py im_export_messages FILE [--from sql|mongo] [--mongodb-url URL] [--resume]"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from messaging.store import transfer
from messaging.store.mongo import MongoMessageStore


class Command(BaseCommand):
    help = ("Write every stored message to FILE (JSON lines, in channel and seq order) and "
            "a summary beside it (FILE.summary.json) that im_import_messages verifies.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--from", dest="source", choices=["sql", "mongo"], default=None,
                            help="the store to read (default: the one the settings select)")
        parser.add_argument("--mongodb-url", default=None,
                            help="the MongoDB store's URL (default: IM_MONGODB_URL)")
        parser.add_argument("--resume", action="store_true",
                            help="continue FILE after its last complete line")

    def handle(self, *args, file: Path, source: str | None, mongodb_url: str | None,
               resume: bool, **options):
        url = mongodb_url or settings.IM_MONGODB_URL
        source = source or ("mongo" if url else "sql")
        if source == "mongo":
            if not url:
                raise CommandError("--from mongo needs --mongodb-url or IM_MONGODB_URL")
            store = MongoMessageStore(url)
            summary = transfer.export(lambda after: transfer.mongo_messages(store, after), file,
                                      resume=resume)
        else:
            summary = transfer.export(transfer.sql_messages, file, resume=resume)
        self.stdout.write(f"exported {summary['count']} messages of "
                          f"{len(summary['channels'])} channels to {file}")
