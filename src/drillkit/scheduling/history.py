"""The fire history: proof of every scheduled run, or of why it did not happen.

Each fire of a schedule leaves one row in ``drill_schedule_fires``: ``running`` then
``ran`` (with the run id, verdict and report directory), ``skipped`` (with the kind and the
reason: blackout, error budget, missed, lock held, ...) or ``error``. ``drill schedule
history`` shows it.

``record_skip`` is the one function through which every skip is recorded, whoever decided
it (the scheduler for missed fires, a fire for blackouts, budgets and locks).

``claim_fire`` makes a fire run once when several schedulers share the database: the first
to insert the claim row for ``(schedule, fire time)`` runs it, the others are refused by
the primary key and record "skipped: lock held".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from drillkit.evidence import append_skip
from drillkit.scheduling.database import Database, claims_table, fires_table
from drillkit.scheduling.policies import Skip, SkipKind
from drillkit.scheduling.schedules import TargetKind
from drillkit.signing import SigningKey


class FireOutcome(StrEnum):
    RUNNING = "running"
    RAN = "ran"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass(frozen=True, kw_only=True)
class Fire:
    """One fire of a schedule: what it runs, its (jittered) fire time and who fires it."""

    schedule: str
    kind: TargetKind
    target: str
    fire_time: datetime
    scheduler: str


@dataclass(frozen=True, kw_only=True)
class FireRecord:
    """A row of the history."""

    id: int
    schedule: str
    kind: TargetKind
    target: str
    fire_time: datetime
    scheduler: str
    outcome: FireOutcome
    skip_kind: SkipKind | None
    reason: str | None
    run_id: str | None
    verdict: str | None
    report_dir: str | None
    recorded_at: datetime
    finished_at: datetime | None

    def describe(self) -> str:
        """One line for people: ``ran: met, run 2026...``, ``skipped: blackout: ...``."""
        if self.outcome is FireOutcome.SKIPPED and self.skip_kind is not None:
            return Skip(kind=self.skip_kind, reason=self.reason or "").describe()
        if self.outcome is FireOutcome.RAN:
            text = f"ran: {self.verdict or 'no verdict'}"
            what = "backup" if self.kind is TargetKind.BACKUP else "run"
            return text + (f", {what} {self.run_id}" if self.run_id else "")
        if self.outcome is FireOutcome.ERROR:
            return f"error: {self.reason}"
        return "running" + (f": run {self.run_id}" if self.run_id else "")


def claim_fire(database: Database, fire: Fire, *, now: datetime) -> str | None:
    """Take ``fire`` for this scheduler; None when taken, else the id of the scheduler
    that took it first."""
    try:
        with database.begin(f"claiming the fire of {fire.schedule}") as connection:
            connection.execute(
                claims_table.insert().values(
                    schedule=fire.schedule,
                    fire_time=fire.fire_time.timestamp(),
                    scheduler=fire.scheduler,
                    claimed_at=now.timestamp(),
                )
            )
        return None
    except sa.exc.IntegrityError:
        with database.begin(f"reading the claim of {fire.schedule}") as connection:
            holder = connection.execute(
                sa.select(claims_table.c.scheduler).where(
                    claims_table.c.schedule == fire.schedule,
                    claims_table.c.fire_time == fire.fire_time.timestamp(),
                )
            ).scalar()
        return str(holder) if holder is not None else "another scheduler"


def is_claimed(database: Database, schedule: str, fire_time: datetime) -> bool:
    """Whether a scheduler took the fire of ``schedule`` at ``fire_time``."""
    with database.begin(f"reading the claim of {schedule}") as connection:
        return (
            connection.execute(
                sa.select(claims_table.c.scheduler).where(
                    claims_table.c.schedule == schedule,
                    claims_table.c.fire_time == fire_time.timestamp(),
                )
            ).first()
            is not None
        )


def record_skip(
    database: Database,
    fire: Fire,
    skip: Skip,
    *,
    now: datetime,
    started: FireRecord | None = None,
    ledger: Path | None = None,
    signing_key: SigningKey | None = None,
) -> FireRecord:
    """Record that ``fire`` did not run its drill, and why. Every skip goes through here.

    ``started`` is the fire's ``running`` row when the skip was found only once the run
    began (the cluster lock was held); it is completed instead of adding a row.
    ``ledger`` is the reports directory whose evidence ledger also gets the skip, so
    that an auditor sees why a drill did not run beside the runs that did; signed with
    ``signing_key`` like the runs, so a signed ledger stays signed.
    """
    if ledger is not None:
        append_skip(
            ledger,
            drill=fire.target,
            reason=f"{skip.kind.value}: {skip.reason}",
            scheduled_for=fire.fire_time,
            schedule=fire.schedule,
            signing_key=signing_key,
            now=now,
        )
    if started is not None:
        return _update(
            database,
            started.id,
            f"recording a skip of {fire.schedule}",
            outcome=FireOutcome.SKIPPED.value,
            skip_kind=skip.kind.value,
            reason=skip.reason,
            finished_at=now.timestamp(),
        )
    return _insert(
        database,
        fire,
        now=now,
        outcome=FireOutcome.SKIPPED,
        skip_kind=skip.kind.value,
        reason=skip.reason,
        finished_at=now.timestamp(),
    )


def record_started(database: Database, fire: Fire, *, now: datetime) -> FireRecord:
    """Record that ``fire`` is starting its drill or game day."""
    return _insert(database, fire, now=now, outcome=FireOutcome.RUNNING)


def record_error(database: Database, fire: Fire, reason: str, *, now: datetime) -> FireRecord:
    """Record that ``fire`` could not even start (an invalid drill file, say)."""
    return _insert(
        database,
        fire,
        now=now,
        outcome=FireOutcome.ERROR,
        reason=reason,
        finished_at=now.timestamp(),
    )


def record_finished(
    database: Database,
    record: FireRecord,
    *,
    now: datetime,
    outcome: FireOutcome,
    verdict: str | None = None,
    run_id: str | None = None,
    report_dir: str | None = None,
    reason: str | None = None,
) -> FireRecord:
    """Complete a ``running`` row with what the run gave (or why it failed)."""
    return _update(
        database,
        record.id,
        f"recording the end of a fire of {record.schedule}",
        outcome=outcome.value,
        verdict=verdict,
        run_id=run_id,
        report_dir=report_dir,
        reason=reason,
        finished_at=now.timestamp(),
    )


def list_fires(
    database: Database, *, schedule: str | None = None, limit: int = 50
) -> list[FireRecord]:
    """The newest ``limit`` rows (of one schedule if given), newest first."""
    query = sa.select(fires_table).order_by(fires_table.c.fire_time.desc(), fires_table.c.id.desc())
    if schedule is not None:
        query = query.where(fires_table.c.schedule == schedule)
    with database.begin("reading the fire history") as connection:
        rows = connection.execute(query.limit(limit)).all()
    return [_record(row._mapping) for row in rows]


def _insert(
    database: Database, fire: Fire, *, now: datetime, outcome: FireOutcome, **values: Any
) -> FireRecord:
    with database.begin(f"recording a fire of {fire.schedule}") as connection:
        result = connection.execute(
            fires_table.insert().values(
                schedule=fire.schedule,
                kind=fire.kind.value,
                target=fire.target,
                fire_time=fire.fire_time.timestamp(),
                scheduler=fire.scheduler,
                outcome=outcome.value,
                recorded_at=now.timestamp(),
                **values,
            )
        )
        key = result.inserted_primary_key
    assert key is not None
    return _read(database, int(key[0]))


def _update(database: Database, record_id: int, action: str, **values: Any) -> FireRecord:
    """Complete the row ``record_id`` (a fire that was running) with ``values``."""
    with database.begin(action) as connection:
        connection.execute(
            fires_table.update().where(fires_table.c.id == record_id).values(**values)
        )
    return _read(database, record_id)


def _read(database: Database, record_id: int) -> FireRecord:
    with database.begin("reading the fire history") as connection:
        row = connection.execute(sa.select(fires_table).where(fires_table.c.id == record_id)).one()
    return _record(row._mapping)


def _record(row: Any) -> FireRecord:
    def moment(value: float | None) -> datetime | None:
        return datetime.fromtimestamp(value, UTC) if value is not None else None

    return FireRecord(
        id=int(row["id"]),
        schedule=row["schedule"],
        kind=TargetKind(row["kind"]),
        target=row["target"],
        fire_time=datetime.fromtimestamp(row["fire_time"], UTC),
        scheduler=row["scheduler"],
        outcome=FireOutcome(row["outcome"]),
        skip_kind=SkipKind(row["skip_kind"]) if row["skip_kind"] else None,
        reason=row["reason"],
        run_id=row["run_id"],
        verdict=row["verdict"],
        report_dir=row["report_dir"],
        recorded_at=datetime.fromtimestamp(row["recorded_at"], UTC),
        finished_at=moment(row["finished_at"]),
    )
