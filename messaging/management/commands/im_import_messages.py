"""python manage.py im_import_messages FILE [--to sql|mongo] [--mongodb-url URL]"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from messaging.store import transfer
from messaging.store.mongo import MongoMessageStore


class Command(BaseCommand):
    help = ("Store the messages of FILE (from im_export_messages) that the target does not "
            "hold yet, then check every channel's last seq and message count against "
            "FILE.summary.json. Run it again to resume.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--to", dest="target", choices=["sql", "mongo"], default=None,
                            help="the store to write (default: the one the settings select)")
        parser.add_argument("--mongodb-url", default=None,
                            help="the MongoDB store's URL (default: IM_MONGODB_URL)")

    def handle(self, *args, file: Path, target: str | None, mongodb_url: str | None,
               **options):
        summary_file = transfer.summary_path(file)
        if not file.exists() or not summary_file.exists():
            raise CommandError(f"{file} and {summary_file} are both needed")
        summary = json.loads(summary_file.read_text())
        url = mongodb_url or settings.IM_MONGODB_URL
        target = target or ("mongo" if url else "sql")
        messages = transfer.read_lines(file)
        try:
            if target == "mongo":
                if not url:
                    raise CommandError("--to mongo needs --mongodb-url or IM_MONGODB_URL")
                store = MongoMessageStore(url)
                written = transfer.import_into_mongo(store, messages)
                wrong = transfer.verify(summary, last_seqs=store.last_seqs,
                                        counts=store.counts)
            else:
                written = transfer.import_into_sql(messages)
                wrong = transfer.verify(summary, last_seqs=transfer.sql_last_seqs,
                                        counts=transfer.sql_counts)
        except transfer.TransferError as error:
            raise CommandError(str(error))
        if wrong:
            raise CommandError("the target does not match the export:\n" + "\n".join(wrong))
        self.stdout.write(f"imported {written} messages; verified {summary['count']} messages "
                          f"of {len(summary['channels'])} channels")
