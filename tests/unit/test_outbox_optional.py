"""The outbox's optional dependencies stay optional: without psycopg and SQLAlchemy, the library imports,
the SQLite outbox works, and a PostgreSQL URL says what to install."""

from __future__ import annotations

import subprocess
import sys

from tests.workers import REPO

WITHOUT_EXTRAS = """
import sqlite3, sys
sys.modules["psycopg"] = None      # import psycopg now raises ImportError, as when it is not installed
sys.modules["sqlalchemy"] = None
from jobs import ConfigurationError, Job, outbox
from jobs.outbox.database import check_url

class Welcome(Job):
    name = "tests.optional.Welcome"
    def perform(self, user_id: int) -> int:
        return user_id

db = sqlite3.connect(":memory:")
outbox.install(db)
outbox.enqueue(db, Welcome, user_id=1)
db.commit()
assert db.execute("SELECT job FROM stalwart_outbox").fetchall() == [("tests.optional.Welcome",)]
try:
    check_url("postgresql://app@db:5432/shop")
except ConfigurationError as err:
    print(err)
"""


def test_the_outbox_works_on_sqlite_without_its_extras_and_names_what_postgresql_needs() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "the outbox URL names PostgreSQL, which needs psycopg 3: pip install 'stalwart[outbox]'\n"
    )
