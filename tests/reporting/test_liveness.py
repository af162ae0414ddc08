"""Whether the run of a start note still runs, asked of real processes on this host."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta

from drillkit.model.timeline import format_utc
from drillkit.reporting.writer import Liveness, StartNote, judge_liveness
from tests.test_processes import finished_pid


def note(*, pid: int, host: str | None = None, started: datetime | str | None = None) -> StartNote:
    started = datetime.now(UTC) if started is None else started
    return StartNote(
        run_id="20261126-093015-3fa2c1",
        drill="zone-failure",
        pid=pid,
        host=socket.gethostname() if host is None else host,
        started_utc=started if isinstance(started, str) else format_utc(started),
    )


def test_a_run_whose_process_lives_here_is_alive() -> None:
    assert judge_liveness(note(pid=os.getpid())) is Liveness.ALIVE


def test_a_run_whose_process_is_gone_is_dead() -> None:
    assert judge_liveness(note(pid=finished_pid())) is Liveness.DEAD


def test_a_run_whose_pid_now_belongs_to_a_younger_process_is_dead() -> None:
    a_year_ago = datetime.now(UTC) - timedelta(days=365)
    assert judge_liveness(note(pid=os.getpid(), started=a_year_ago)) is Liveness.DEAD


def test_a_run_with_an_unreadable_start_time_is_judged_by_its_pid_alone() -> None:
    assert judge_liveness(note(pid=os.getpid(), started="yesterday")) is Liveness.ALIVE
    assert judge_liveness(note(pid=finished_pid(), started="yesterday")) is Liveness.DEAD


def test_a_run_started_on_another_host_cannot_be_judged_from_here() -> None:
    other = note(pid=os.getpid(), host=socket.gethostname() + "-elsewhere")
    assert judge_liveness(other) is Liveness.UNKNOWN


def test_a_run_without_a_start_note_is_dead() -> None:
    assert judge_liveness(None) is Liveness.DEAD
