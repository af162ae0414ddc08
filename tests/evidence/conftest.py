"""Report directories written by the real writer, entered in a real ledger.

Every test gets its own ``DRILLKIT_HOME`` (where the witness copy of the ledger head
lives), so no test sees another's witness or a developer's. Times are fixed: runs
start a day apart from ``UTC_ORIGIN``, entries are recorded at ``RECORDED``.
"""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drillkit.drivers.objectstore import S3Store
from drillkit.evidence.findings import judge_run
from drillkit.evidence.ledger import append_run, append_skip
from drillkit.model.run import Promise
from drillkit.reporting.writer import write_run_report
from drillkit.signing import SigningKey
from tests.helpers import isolate_from_aws
from tests.minio import MinioServer
from tests.reporting.conftest import UTC_ORIGIN, Variant, make_record

RECORDED = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
VARIANTS: tuple[Variant, ...] = ("met", "missed", "markers", "interrupted")


_templates: dict[tuple[int, str, str], Path] = {}
_template_root: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def report_templates(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Where each distinct report is rendered once (the chart makes rendering slow);
    tests copy it into their own reports directory."""
    _template_root.append(tmp_path_factory.mktemp("report-templates"))


@pytest.fixture(autouse=True)
def drillkit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "drillkit-home"
    monkeypatch.setenv("DRILLKIT_HOME", str(home))
    yield home


def run_id_of(index: int) -> str:
    return f"{(UTC_ORIGIN + timedelta(days=index)):%Y%m%d-%H%M%S}-{index:06x}"


def enter_proving_run(
    reports_dir: Path,
    promise: Promise,
    day: int,
    variant: Variant,
    *,
    signing_key: SigningKey | None = None,
) -> None:
    """A run on ``day`` proving ``promise``, its report written, entered in the ledger and
    judged (a finding opened or closed) by the code ``drill run`` uses."""
    record = make_record(
        variant,
        run_id=run_id_of(day),
        drill=f"{promise.service}-{promise.disruption}",
        started_utc=UTC_ORIGIN + timedelta(days=day),
    )
    run_dir = write_run_report(dataclasses.replace(record, promise=promise), reports_dir)
    # Entered and judged as it ended, as drill run enters it: readiness at a moment weighs
    # what the ledger held then.
    entered = record.ended_utc
    entry = append_run(reports_dir, run_dir, signing_key=signing_key, now=entered)
    judge_run(
        reports_dir, entry, reason="the shop stayed down", signing_key=signing_key, now=entered
    )


def write_run(
    reports_dir: Path,
    index: int,
    *,
    drill: str = "zone-failure",
    variant: Variant | None = None,
) -> Path:
    """Run number ``index``: started ``index`` days after UTC_ORIGIN, its report written
    by the real writer (once per distinct run, then copied)."""
    chosen = variant or VARIANTS[index % len(VARIANTS)]
    key = (index, drill, chosen)
    if key not in _templates:
        record = make_record(
            chosen,
            run_id=run_id_of(index),
            drill=drill,
            started_utc=UTC_ORIGIN + timedelta(days=index),
        )
        _templates[key] = write_run_report(record, _template_root[0] / f"{len(_templates)}")
    target = reports_dir / drill / run_id_of(index)
    shutil.copytree(_templates[key], target, dirs_exist_ok=True)
    return target


def record_runs(
    reports_dir: Path,
    count: int,
    *,
    signing_key: SigningKey | None = None,
    drills: tuple[str, ...] = ("zone-failure", "pod-kill"),
) -> list[Path]:
    """``count`` runs written and entered in the ledger, in order."""
    run_dirs = []
    for index in range(count):
        run_dir = write_run(reports_dir, index, drill=drills[index % len(drills)])
        append_run(reports_dir, run_dir, signing_key=signing_key, now=RECORDED)
        run_dirs.append(run_dir)
    return run_dirs


def record_skip(
    reports_dir: Path,
    day: int,
    *,
    reason: str = "change freeze",
    signing_key: SigningKey | None = None,
) -> None:
    append_skip(
        reports_dir,
        drill="zone-failure",
        reason=reason,
        scheduled_for=UTC_ORIGIN + timedelta(days=day, hours=12),
        schedule="weekly-zone-failure",
        signing_key=signing_key,
        now=RECORDED,
    )


def flip_byte(path: Path, offset: int) -> None:
    """Change one byte of a file in place (its lowest bit)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def ledger_lines(reports_dir: Path) -> list[bytes]:
    return (reports_dir / "ledger.jsonl").read_bytes().splitlines(keepends=True)


def write_ledger_lines(reports_dir: Path, lines: list[bytes]) -> None:
    (reports_dir / "ledger.jsonl").write_bytes(b"".join(lines))


def forge_verdict(reports_dir: Path, *, line_index: int) -> None:
    """Turn a run's verdict into ``met`` and recompute every later link, the head and the
    witness, as someone who edits an unsigned ledger can."""
    import json

    from drillkit.evidence.ledger import digest_bytes, encode_canonical, head_path, witness_path

    lines = [line.rstrip(b"\n") for line in ledger_lines(reports_dir)]
    data = json.loads(lines[line_index])
    data["verdict"] = "met"
    data.pop("sig", None)
    lines[line_index] = encode_canonical(data)
    for index in range(line_index + 1, len(lines)):
        following = json.loads(lines[index])
        following["prev"] = digest_bytes(lines[index - 1])
        lines[index] = encode_canonical(following)
    write_ledger_lines(reports_dir, [line + b"\n" for line in lines])
    head = json.loads(head_path(reports_dir).read_text())
    head["digest"] = digest_bytes(lines[-1])
    head.pop("sig", None)
    head_path(reports_dir).write_bytes(encode_canonical(head) + b"\n")
    witness_path(reports_dir).write_bytes(encode_canonical(head) + b"\n")


# -- the evidence store on S3: a real MinIO on loopback --------------------------------------


@pytest.fixture
def s3_environment(minio: MinioServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """MinIO's credentials and endpoint, nothing that could reach real AWS; the endpoint."""
    isolate_from_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", minio.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", minio.secret_key)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("DRILLKIT_S3_ENDPOINT", minio.endpoint)
    return minio.endpoint


@pytest.fixture
def locked_bucket(s3_environment: str) -> S3Store:
    """A fresh bucket with Object Lock (so versioned), as the whole store."""
    store = S3Store(f"evidence-{uuid.uuid4().hex[:8]}", endpoint_url=s3_environment)
    store.ensure_bucket(object_lock=True)
    return store


@pytest.fixture
def evidence_url(locked_bucket: S3Store) -> str:
    """The URL of an evidence store in a fresh locked bucket."""
    return f"s3://{locked_bucket.bucket}/fleet"
