"""The evidence store on S3 (MinIO with Object Lock) beside the local ledger.

    .venv/bin/python bench/evidence_store.py [--runners 4] [--runs 25] [--entries 10000]

No lab: a MinIO server on 127.0.0.1 (``tests/minio.py``, built once from the Go module
proxy) with a bucket created with Object Lock; every object is written under compliance
retention of one day. Measured, wall time:

- ``append``: ``--runners`` processes started at once, each entering ``--runs`` runs
  (small real report directories, written beforehand by the real writer): in the store
  (``EvidenceStore.push``: the report's files, then the entry, racing the others for
  each number), and in one local ledger the processes share (``append_run``, serialised
  by its lock). Entries per second over the whole.
- ``verify``: a chain of ``--entries`` entries (skips, so without report files: this
  measures the chain), checked by ``verify_store`` twice (the second time from the local
  cache of entries already verified) and by ``verify_ledger`` for a local ledger of as
  many entries.

Progress on stderr, results on stdout. Everything lives in a temporary directory that is
deleted at the end, MinIO is stopped in a ``finally``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.evidence import conftest as evidence_fixtures
from tests.minio import minio_binary, running_minio

from drillkit.drivers.objectstore import Retention, RetentionMode, S3Store
from drillkit.evidence.ledger import (
    GENESIS,
    append_run,
    append_skip,
    digest_bytes,
    encode_canonical,
)
from drillkit.evidence.store import EvidenceStore, entry_key, verify_store
from drillkit.evidence.verify import verify_ledger

ROOT = Path(__file__).resolve().parent.parent
LOCK = Retention(mode=RetentionMode.COMPLIANCE, days=1)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def append_locally(reports_dir: str, run_dirs: list[str], barrier: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    for run_dir in run_dirs:
        append_run(Path(reports_dir), Path(run_dir))


def local_append(directory: Path, runners: int, runs: int) -> float:
    reports_dir = directory / "local" / "reports"
    evidence_fixtures._template_root.append(directory / "templates")
    (directory / "templates").mkdir(parents=True, exist_ok=True)
    run_dirs = [
        [
            str(evidence_fixtures.write_run(reports_dir, index, drill=f"drill-{runner}"))
            for index in range(runs)
        ]
        for runner in range(runners)
    ]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(runners + 1)
    processes = [
        context.Process(target=append_locally, args=(str(reports_dir), dirs, barrier))
        for dirs in run_dirs
    ]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    for process in processes:
        process.join(timeout=600)
    elapsed = time.perf_counter() - started
    assert all(process.exitcode == 0 for process in processes)
    result = verify_ledger(reports_dir)
    assert result.intact and result.entries == runners * runs, result.problems[:3]
    return elapsed


def store_append(directory: Path, url: str, runners: int, runs: int) -> float:
    processes = []
    for runner in range(runners):
        reports = directory / f"runner-{runner}" / "reports"
        reports.mkdir(parents=True)
        processes.append(
            subprocess.Popen(
                [
                    *(sys.executable, "-m", "tests.evidence.store_runner", "append", url),
                    *(str(reports), f"drill-{runner}", str(runs)),
                ],
                cwd=ROOT,
                env={
                    **os.environ,
                    "DRILLKIT_HOME": str(directory / f"runner-{runner}" / "home"),
                    "PYTHONPATH": str(ROOT),
                },
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        started = time.perf_counter()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            assert process.stdout is not None and process.stdout.readline().strip() == "done"
        elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
    return elapsed


def fill_store(store: S3Store, entries: int) -> None:
    # Set-up, not measured: one writer, the chain computed as it goes.
    prev = GENESIS
    origin = datetime(2025, 1, 1, tzinfo=UTC)
    for seq in range(1, entries + 1):
        body = encode_canonical(
            {
                "v": 1,
                "seq": seq,
                "kind": "skip",
                "prev": prev,
                "recorded_utc": "2025-07-01T00:00:00Z",
                "drill": "zone-failure",
                "scheduled_for": f"{origin + timedelta(hours=seq):%Y-%m-%dT%H:%M:%SZ}",
                "reason": "change freeze",
                "runner": "bench",
            }
        )
        store.put_new(entry_key(seq), body, retention=LOCK)
        prev = digest_bytes(body)


def fill_ledger(reports_dir: Path, entries: int) -> None:
    for seq in range(1, entries + 1):
        append_skip(
            reports_dir,
            drill="zone-failure",
            reason="change freeze",
            scheduled_for=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=seq),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runners", type=int, default=4)
    parser.add_argument("--runs", type=int, default=25, help="runs each runner enters")
    parser.add_argument("--entries", type=int, default=10_000, help="entries verified")
    arguments = parser.parse_args()
    total = arguments.runners * arguments.runs

    with tempfile.TemporaryDirectory(prefix="bench-evidence-") as temporary:
        directory = Path(temporary)
        os.environ["DRILLKIT_HOME"] = str(directory / "home")
        log("starting MinIO on 127.0.0.1")
        with running_minio(minio_binary(log), directory / "minio") as server:
            os.environ.update(
                AWS_ACCESS_KEY_ID=server.access_key,
                AWS_SECRET_ACCESS_KEY=server.secret_key,
                AWS_REGION="us-east-1",
                AWS_CONFIG_FILE=str(directory / "no-aws-config"),
                AWS_SHARED_CREDENTIALS_FILE=str(directory / "no-aws-credentials"),
                AWS_EC2_METADATA_DISABLED="true",
                DRILLKIT_S3_ENDPOINT=server.endpoint,
            )
            for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
                del os.environ[name]
            bucket = S3Store(f"bench-{uuid.uuid4().hex[:8]}")
            bucket.ensure_bucket(object_lock=True)

            log(f"local: {arguments.runners} processes x {arguments.runs} runs, one ledger")
            local_seconds = local_append(directory, arguments.runners, arguments.runs)
            log(f"store: {arguments.runners} processes x {arguments.runs} runs")
            append_url = f"s3://{bucket.bucket}/append"
            store_seconds = store_append(directory, append_url, arguments.runners, arguments.runs)
            appended = verify_store(EvidenceStore(append_url, retention=LOCK))
            assert appended.intact and appended.entries == total, appended.problems[:3]

            log(f"store: writing a chain of {arguments.entries} entries (set-up)")
            started = time.perf_counter()
            fill_store(S3Store(bucket.bucket, "verify"), arguments.entries)
            fill_seconds = time.perf_counter() - started
            store = EvidenceStore(f"s3://{bucket.bucket}/verify", retention=LOCK)
            timings = []
            for _ in range(2):
                started = time.perf_counter()
                result = verify_store(store)
                timings.append(time.perf_counter() - started)
                assert result.intact and result.entries == arguments.entries, result.problems[:3]

            log(f"local: a ledger of {arguments.entries} entries (set-up)")
            ledger_dir = directory / "ledger" / "reports"
            fill_ledger(ledger_dir, arguments.entries)
            started = time.perf_counter()
            local = verify_ledger(ledger_dir)
            local_verify = time.perf_counter() - started
            assert local.intact and local.entries == arguments.entries

    print("evidence store benchmark (bench/evidence_store.py)")
    print(
        f"  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.2f}; Python {sys.version.split()[0]}"
    )
    print(f"  append, {arguments.runners} processes x {arguments.runs} runs = {total} entries")
    print(
        f"    S3 store (MinIO)  {store_seconds:7.2f} s  {total / store_seconds:8.1f} entries/s"
        "  (report files uploaded, then the entry)"
    )
    print(f"    local ledger      {local_seconds:7.2f} s  {total / local_seconds:8.1f} entries/s")
    print(f"  verify, {arguments.entries} entries (skips: the chain, no report files)")
    print(f"    S3 store, first   {timings[0]:7.2f} s  (every entry fetched)")
    print(f"    S3 store, again   {timings[1]:7.2f} s  (entries from the local cache)")
    print(f"    local ledger      {local_verify:7.2f} s")
    print(f"  set-up: writing {arguments.entries} entries to the store took {fill_seconds:.1f} s")


if __name__ == "__main__":
    main()
