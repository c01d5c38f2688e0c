"""Path converters every app's URLs may use; importing this module registers them.

<dbid:...>: an id that fits a database key (a 64-bit signed integer).
"""

from django.urls import register_converter
from django.urls.converters import get_converters

DB_ID_MAX = 2**63 - 1


class DatabaseIdConverter:
    """Like <int:...>, but a number no database key can hold does not match (a 404).

    With plain <int:...>, /api/users/99999999999999999999/ reaches the ORM, where
    SQLite raises OverflowError and related lookups on PostgreSQL fail: a 500.
    """

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > DB_ID_MAX:
            raise ValueError("out of range")  # Django treats this as no match
        return number

    def to_url(self, value: int) -> str:
        return str(value)


if "dbid" not in get_converters():
    register_converter(DatabaseIdConverter, "dbid")
