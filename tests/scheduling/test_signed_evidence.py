"""A team that signs its ledger and also schedules drills: every entry is signed.

``drill run`` signs its entry with the key; scheduled fires, the skips they record, the
scheduler's own skips (missed fires) and game days must sign theirs with the same key,
or ``drill evidence verify --public-key`` fails the whole ledger (every entry after the
first signed one must be signed). Fires and runs are real: the no-cluster ``noop``
drill, in this process through click or in processes of their own.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from drillkit.cli.main import cli
from drillkit.errors import InvalidInput
from drillkit.evidence.ledger import RunEntry, SkipEntry, read_ledger
from drillkit.evidence.verify import verify_ledger
from drillkit.scheduling.database import Database
from drillkit.scheduling.history import FireOutcome, list_fires
from drillkit.scheduling.policies import SkipKind
from drillkit.signing import load_signing_key, load_verify_key
from tests.helpers import drill_command, free_port, wait_until
from tests.scheduling.conftest import TEST_DRILLS, FakeClock, miss_a_fire

ALWAYS_BLACK = "blackouts:\n  - {name: always, start: 2000-01-01T00:00, end: 2100-01-01T00:00}\n"
# Two fires of one schedule: each fire time runs once, so two fires in the same second
# (the default fire time is now, to the second) would be one.
FIRST_FIRE = ("--fire-time", "2026-01-05T10:00:00Z")
SECOND_FIRE = ("--fire-time", "2026-01-05T11:00:00Z")


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> None:
    monkeypatch.setenv("DRILL_SCHEDULER_DATABASE", sqlite_url)
    monkeypatch.setenv("DRILL_DRILLS_DIR", str(TEST_DRILLS))
    monkeypatch.setenv("DRILL_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("DRILL_GAMEDAYS_DIR", str(tmp_path / "gamedays"))
    monkeypatch.setenv("DRILL_SCHEDULE_POLICY", str(tmp_path / "schedule-policy.yaml"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("DRILLKIT_HOME", str(tmp_path / "drillkit-home"))
    monkeypatch.delenv("DRILL_SIGNING_KEY", raising=False)


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "signing-key.pem"
    created = drill("evidence", "keygen", str(path))
    assert created.exit_code == 0, created.output
    return path


def drill(*arguments: str) -> Result:
    return CliRunner().invoke(cli, list(arguments))


def verified_with(key: Path, reports: Path) -> Result:
    return drill("evidence", "verify", "--reports-dir", str(reports), "--public-key", f"{key}.pub")


def kinds_and_signatures(reports: Path) -> list[tuple[str, bool]]:
    return [
        (line.entry.kind, line.entry.sig is not None) for line in read_ledger(reports) if line.entry
    ]


def test_a_signed_ledger_with_a_scheduled_fire_and_a_skip_verifies_with_the_public_key(
    tmp_path: Path, key: Path
) -> None:
    reports = tmp_path / "reports"
    ran = drill("run", "noop", "--signing-key", str(key))
    assert ran.exit_code == 0, ran.output

    fired = drill("schedule", "fire", "noop", "--signing-key", str(key), *FIRST_FIRE)
    assert fired.exit_code == 0, fired.output
    assert "noop: ran: met" in fired.output
    (tmp_path / "schedule-policy.yaml").write_text(ALWAYS_BLACK)
    skipped = drill("schedule", "fire", "noop", "--signing-key", str(key), *SECOND_FIRE)
    assert skipped.exit_code == 0, skipped.output
    assert skipped.output.startswith("noop: skipped: blackout")

    assert kinds_and_signatures(reports) == [("run", True), ("run", True), ("skip", True)]
    verified = verified_with(key, reports)
    assert verified.exit_code == 0, verified.output
    assert "INTACT" in verified.output


def test_the_key_named_by_the_environment_signs_fires_and_skips_as_it_signs_runs(
    tmp_path: Path, key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRILL_SIGNING_KEY", str(key))
    reports = tmp_path / "reports"

    assert drill("run", "noop").exit_code == 0
    assert drill("schedule", "fire", "noop", *FIRST_FIRE).exit_code == 0
    (tmp_path / "schedule-policy.yaml").write_text(ALWAYS_BLACK)
    assert drill("schedule", "fire", "noop", *SECOND_FIRE).exit_code == 0

    assert kinds_and_signatures(reports) == [("run", True), ("run", True), ("skip", True)]
    assert verified_with(key, reports).exit_code == 0


def test_a_broken_key_stops_a_fire_before_it_runs_or_records_anything(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pem"
    broken.write_text("not a key")
    broken.chmod(0o600)

    fired = drill("schedule", "fire", "noop", "--signing-key", str(broken))

    # Raised as bad input (one line, exit 2, from the drill command).
    assert isinstance(fired.exception, InvalidInput)
    assert f"{broken}: not an unencrypted PEM private key" in str(fired.exception)
    assert not (tmp_path / "reports").exists()


def test_an_unattended_game_day_signs_the_entries_of_its_drills(tmp_path: Path, key: Path) -> None:
    gamedays = tmp_path / "gamedays"
    gamedays.mkdir()
    (gamedays / "practice.yaml").write_text(
        "name: practice\nsteps:\n  - drill: noop\n  - drill: noop\n"
    )
    reports = tmp_path / "reports"
    assert drill("run", "noop", "--signing-key", str(key)).exit_code == 0

    played = drill("gameday", "run", "practice", "--yes", "--signing-key", str(key))

    assert played.exit_code == 0, played.output
    assert kinds_and_signatures(reports) == [("run", True)] * 3 + [("gameday", True)]
    assert verified_with(key, reports).exit_code == 0


def test_a_scheduled_game_day_enters_the_ledger_signed_like_one_run_by_hand(
    tmp_path: Path, key: Path
) -> None:
    gamedays = tmp_path / "gamedays"
    gamedays.mkdir()
    (gamedays / "practice.yaml").write_text("name: practice\nsteps:\n  - drill: noop\n")
    reports = tmp_path / "reports"

    fired = drill(
        "schedule", "fire", "practice", "--target", "gameday:practice", "--signing-key", str(key)
    )

    assert fired.exit_code == 0, fired.output
    assert kinds_and_signatures(reports) == [("run", True), ("gameday", True)]
    verified = verified_with(key, reports)
    assert verified.exit_code == 0, verified.output
    assert "INTACT" in verified.output


@pytest.fixture
def database(sqlite_url: str) -> Iterator[Database]:
    with Database(sqlite_url) as opened:
        yield opened


def test_the_scheduler_signs_the_fires_it_records_as_missed(
    tmp_path: Path, key: Path, database: Database, clock: FakeClock, sqlite_url: str
) -> None:
    reports = tmp_path / "reports"

    miss_a_fire(
        sqlite_url,
        clock,
        reports,
        recorded=lambda: any(r.outcome is FireOutcome.SKIPPED for r in list_fires(database)),
        ledger=reports,
        signing_key=load_signing_key(key),
    )

    (line,) = read_ledger(reports)
    assert isinstance(line.entry, SkipEntry)
    assert line.entry.reason.startswith(SkipKind.MISSED.value)
    assert line.entry.sig is not None
    verification = verify_ledger(reports, verify_key=load_verify_key(Path(f"{key}.pub")))
    assert verification.intact, verification.problems


def test_drill_scheduler_run_hands_its_key_to_the_fires_it_starts(
    tmp_path: Path, key: Path, sqlite_url: str
) -> None:
    reports = tmp_path / "reports"
    # Every two seconds (a sixth, leading field gives the second).
    added = drill("schedule", "add", "noop", "--cron", "*/2 * * * * *", "--tz", "UTC")
    assert added.exit_code == 0, added.output
    environment = {name: value for name, value in os.environ.items() if name != "DRILL_SIGNING_KEY"}
    log = (tmp_path / "scheduler.log").open("w")
    scheduler = subprocess.Popen(
        [
            *drill_command(),
            "scheduler",
            "run",
            "--id",
            "signer",
            "--port",
            str(free_port()),
            "--refresh",
            "1s",
            "--signing-key",
            str(key),
        ],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(
            "a scheduled run entered in the ledger",
            lambda: any(isinstance(line.entry, RunEntry) for line in read_ledger(reports)),
        )
    finally:
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(timeout=300)
        log.close()

    entries = [line.entry for line in read_ledger(reports) if line.entry]
    assert entries and all(entry.sig is not None for entry in entries)
    assert verified_with(key, reports).exit_code == 0, (tmp_path / "scheduler.log").read_text()
