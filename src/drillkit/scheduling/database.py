"""The scheduler's database: schedules, fire history and fire claims, beside APScheduler's jobs.

One SQLAlchemy database holds everything the scheduler keeps: a SQLite file by default
(``<state home>/scheduler.db``), PostgreSQL when given a URL, so that several schedulers
can share it. Its tables:

- ``drill_schedules``: the schedules people add, pause and remove
  (``drillkit.scheduling.schedules``);
- ``drill_schedule_fires``: one row per fire that ran, was skipped or was missed, with the
  reason (``drillkit.scheduling.history``);
- ``drill_schedule_claims``: one row per fire time taken by a scheduler, so that schedulers
  sharing the database run each fire once;
- ``drill_schedule_confirmations``: the kube context named to confirm a schedule of a
  production drill (``safety.production``), and who named it;
- ``drill_schedule_origins``: the schedule file each schedule made by ``drill schedule apply``
  was declared in (``drillkit.scheduling.declared``); a schedule without a row was added by
  hand;
- ``drill_scheduler_jobs_<id>``: each scheduler's APScheduler job store (its jobs and their
  next fire times), created by APScheduler.

This is the adapter for SQLAlchemy: its exceptions become ``SchedulerDatabaseError`` here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from drillkit.errors import DrillError, InvalidInput
from drillkit.files import state_home

DATABASE_FILE_NAME = "scheduler.db"
_JOB_TABLE_PREFIX = "drill_scheduler_jobs_"

metadata = sa.MetaData()

schedules_table = sa.Table(
    "drill_schedules",
    metadata,
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("target", sa.String(63), nullable=False),
    sa.Column("cron", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("jitter_seconds", sa.Integer, nullable=False),
    sa.Column("misfire_grace_seconds", sa.Integer, nullable=False),
    sa.Column("coalesce", sa.Boolean, nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

fires_table = sa.Table(
    "drill_schedule_fires",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("schedule", sa.String(63), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("target", sa.String(63), nullable=False),
    sa.Column("fire_time", sa.Float, nullable=False, index=True),
    sa.Column("scheduler", sa.String(200), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("skip_kind", sa.String(32)),
    sa.Column("reason", sa.Text),
    sa.Column("run_id", sa.String(100)),
    sa.Column("verdict", sa.String(32)),
    sa.Column("report_dir", sa.Text),
    sa.Column("recorded_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
)

claims_table = sa.Table(
    "drill_schedule_claims",
    metadata,
    sa.Column("schedule", sa.String(63), primary_key=True),
    sa.Column("fire_time", sa.Float, primary_key=True),
    sa.Column("scheduler", sa.String(200), nullable=False),
    sa.Column("claimed_at", sa.Float, nullable=False),
)


# A table of its own rather than a column of drill_schedules, so that databases made
# before it get it from create_all without a migration.
confirmations_table = sa.Table(
    "drill_schedule_confirmations",
    metadata,
    sa.Column("schedule", sa.String(63), primary_key=True),
    sa.Column("context", sa.String(253), nullable=False),
    sa.Column("confirmed_by", sa.String(200), nullable=False),
    sa.Column("confirmed_at", sa.Float, nullable=False),
)

# A table of its own for the same reason: which schedules `drill schedule apply` manages.
origins_table = sa.Table(
    "drill_schedule_origins",
    metadata,
    sa.Column("schedule", sa.String(63), primary_key=True),
    sa.Column("source", sa.Text, nullable=False),
)


class SchedulerDatabaseError(DrillError):
    """The scheduler's database could not be opened, read or written."""


def default_database_url() -> str:
    """``sqlite:///<state home>/scheduler.db``."""
    return f"sqlite:///{state_home() / DATABASE_FILE_NAME}"


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` for the psycopg 3 driver drillkit ships."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def job_table_name(scheduler_id: str) -> str:
    """The APScheduler job table of one scheduler: ``drill_scheduler_jobs_<id>``."""
    return _JOB_TABLE_PREFIX + re.sub(r"[^a-z0-9]+", "_", scheduler_id.lower()).strip("_")[:40]


def ensure_scheduler_id(scheduler_id: str) -> str:
    """A scheduler id names a job table: letters, digits, dots, dashes and underscores."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", scheduler_id):
        raise InvalidInput(
            f"invalid scheduler id {scheduler_id!r}: use up to 63 letters, digits, dots, "
            "dashes and underscores, such as the host name"
        )
    return scheduler_id


class Database(AbstractContextManager["Database"]):
    """An open scheduler database; its tables are created on first use.

    With ``create=False`` it creates nothing (no SQLite file, directory or table): a
    SQLite file must exist, and connecting to a server gives up after a few seconds.
    That is for quick reads that must not leave anything behind, such as shell completion.
    """

    def __init__(self, url: str | None = None, *, create: bool = True) -> None:
        self.url = normalise_url(url or default_database_url())
        self.engine = _create_engine(self.url, create=create)
        self.shown_url = self.engine.url.render_as_string(hide_password=True)
        if create:
            self._create_tables()

    def _create_tables(self) -> None:
        # Schedulers starting together on an empty PostgreSQL database race to create the
        # same tables; the loser's CREATE fails although the table now exists: look again.
        for attempt in range(3):
            try:
                with self.translate("creating the scheduler tables"):
                    metadata.create_all(self.engine, checkfirst=True)
                return
            except (sa.exc.IntegrityError, SchedulerDatabaseError):
                if attempt == 2:
                    raise

    @contextmanager
    def begin(self, action: str) -> Iterator[Connection]:
        """A connection inside one transaction; database errors name ``action``."""
        with self.translate(action), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def translate(self, action: str) -> Iterator[None]:
        """Turn SQLAlchemy's (and its drivers') errors into one ``SchedulerDatabaseError`` line."""
        try:
            yield
        except sa.exc.IntegrityError:
            # Callers that expect a conflict (a taken claim, an existing name) handle it.
            raise
        except sa.exc.SQLAlchemyError as error:
            detail = " ".join(str(getattr(error, "orig", None) or error).split())
            raise SchedulerDatabaseError(
                f"{action}: scheduler database {self.shown_url}: {detail}"
            ) from error

    def close(self) -> None:
        self.engine.dispose()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _create_engine(url: str, *, create: bool) -> Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise InvalidInput(
            f"invalid database URL {url!r}: use sqlite:///PATH or "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            if create:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            elif not Path(database).expanduser().is_file():
                # SQLite would create the file on connecting.
                raise SchedulerDatabaseError(f"no scheduler database at {database}")
        # Several processes (the scheduler, its fires, the CLI) share the file: wait for
        # each other's writes instead of failing at once.
        options["connect_args"] = {"timeout": 30}
    elif parsed.get_backend_name() == "postgresql":
        # A database that went away (restart, failover) is noticed before a statement fails.
        options["pool_pre_ping"] = True
        if not create:
            options["connect_args"] = {"connect_timeout": 3}
    try:
        engine = sa.create_engine(parsed, **options)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as error:
        raise InvalidInput(f"cannot use database URL {url!r}: {error}") from None
    if parsed.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(connection: Any, _record: object) -> None:
    # Write-ahead logging lets readers (drill schedule list) work while a fire writes.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
