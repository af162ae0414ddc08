"""Fixtures for the scheduler's tests: an injected clock, real PostgreSQL, real Prometheus,
a real HTTP receiver for notifications, and a drill that needs no cluster.

PostgreSQL is Debian's (``apt-get install postgresql``): a server of the test session's
own is created with ``initdb`` in a temporary directory and started with ``pg_ctl`` on
127.0.0.1 and a free port. PostgreSQL refuses to run as root, so as root (CI) both run
as the ``postgres`` user through ``runuser``. Prometheus is Debian's too, scraping an
exporter served here whose error-budget value a test sets. Missing binaries fail the
tests: they are never skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    Receiver,
    free_port,
    receiving_webhooks,
    running_prometheus,
    wait_until,
)

HERE = Path(__file__).parent
TEST_DRILLS = HERE / "drills"
STARTUP_DEADLINE = 120.0


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib honours proxy variables; a CI proxy must not stand between a test and loopback.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


# -- the clock -----------------------------------------------------------------------------------


class FakeClock:
    """A clock that moves only when a test moves it."""

    def __init__(self, start: datetime) -> None:
        self._utc = start
        self._monotonic = 1000.0
        self._lock = threading.Lock()

    def utc(self) -> datetime:
        with self._lock:
            return self._utc

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._monotonic += (moment - self._utc).total_seconds()
            self._utc = moment

    def advance(self, delta: timedelta) -> None:
        self.set(self.utc() + delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A fake clock, also given to APScheduler's scheduler loop (``clock_for_apscheduler``)."""
    return clock_for_apscheduler(monkeypatch)


def clock_for_apscheduler(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A fake clock at 2026-01-05 09:00 UTC, also given to APScheduler's scheduler loop.

    APScheduler 3 reads ``datetime.now`` inside its loop to find due jobs; its own test
    suite freezes time by replacing that name in its scheduler module, and so does this
    function, so the loop and drillkit's decisions see the same time.
    """
    fake = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    class ClockedDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            moment = fake.utc()
            return moment.astimezone(tz) if tz is not None else moment.replace(tzinfo=None)

    monkeypatch.setattr("apscheduler.schedulers.base.datetime", ClockedDatetime)
    return fake


def miss_a_fire(
    database_url: str,
    clock: FakeClock,
    reports: Path,
    *,
    recorded: Callable[[], bool],
    **scheduler: Any,
) -> None:
    """A scheduler that misses a fire: a daily 10:00 fire of ``noop`` with 30 minutes'
    grace, a scheduler started and stopped at the clock's time (before 10:00), then
    started again at 11:05, beyond the grace, until ``recorded()`` holds. ``scheduler``
    holds more settings of both schedulers (``ledger``, ``signing_key``, ``evidence``)."""
    from drillkit.scheduling.daemon import DrillScheduler, FireProcesses
    from drillkit.scheduling.database import Database
    from drillkit.scheduling.schedules import ScheduleSettings, TargetKind, add_schedule

    with Database(database_url) as database:
        add_schedule(
            database,
            ScheduleSettings(
                name="noop",
                kind=TargetKind.DRILL,
                target="noop",
                cron="0 10 * * *",
                timezone="UTC",
                misfire_grace=timedelta(minutes=30),
            ),
            now=clock.utc(),
        )

    def start() -> DrillScheduler:
        started = DrillScheduler(
            Database(database_url),
            scheduler_id="a",
            processes=FireProcesses(arguments=["--reports-dir", str(reports)]),
            clock=clock,
            refresh_interval=3600,
            **scheduler,
        )
        started.start()
        return started

    first = start()
    first.stop()
    first.database.close()
    # Down until 11:05: the 10:00 fire is 65 minutes late, beyond the grace: missed.
    clock.set(datetime(2026, 1, 5, 11, 5, tzinfo=UTC))
    restarted = start()
    try:
        wait_until("the missed fire recorded", recorded)
    finally:
        restarted.stop()
        restarted.database.close()


# -- databases -------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'scheduler.db'}"


def _postgres_binaries() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.fail("no PostgreSQL server binaries: install them with `apt-get install postgresql`")
    return found[-1].parent


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server of this test session, on 127.0.0.1; yields its URL."""
    binaries = _postgres_binaries()
    directory = Path(tempfile.mkdtemp(prefix="drillkit-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    data = directory / "data"
    port = free_port()
    subprocess.run(
        _as_postgres(
            [str(binaries / "initdb"), "-D", str(data), "-U", "drill", "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {directory}"
    subprocess.run(
        _as_postgres(
            [
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(directory / "server.log"),
                "-w",
                "-t",
                str(int(STARTUP_DEADLINE)),
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://drill@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A fresh database in the session's PostgreSQL, for one test."""
    import psycopg

    name = f"t_{os.urandom(4).hex()}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


# -- Prometheus ------------------------------------------------------------------------------------


class BudgetExporter:
    """An exporter serving ``slo_error_budget_remaining``; tests set its value."""

    def __init__(self) -> None:
        self.remaining = 1.0
        self.lock = threading.Lock()

    def exposition(self) -> bytes:
        with self.lock:
            value = self.remaining
        return (
            "# HELP slo_error_budget_remaining Fraction of the SLO error budget left.\n"
            "# TYPE slo_error_budget_remaining gauge\n"
            f'slo_error_budget_remaining{{slo="checkout"}} {value}\n'
        ).encode()


@pytest.fixture(scope="module")
def budget_exporter() -> Iterator[tuple[BudgetExporter, str]]:
    exporter = BudgetExporter()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exporter.exposition() if self.path == "/metrics" else b"not found\n"
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="budget-exporter")
    thread.start()
    try:
        yield exporter, f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def prometheus(
    budget_exporter: tuple[BudgetExporter, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real Prometheus scraping the budget exporter every second; yields its URL."""
    _, target = budget_exporter
    directory = tmp_path_factory.mktemp("prometheus")
    with running_prometheus(
        directory, target=target, ready_query="slo_error_budget_remaining"
    ) as url:
        yield url


# -- a receiver for notifications ------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on loopback that records the JSON posted to it."""
    with receiving_webhooks() as box:
        yield box
