"""The evidence side at scale: ``drill evidence verify`` of 100,000 entries, export of 10,000 runs.

    .venv/bin/python bench/evidence_scale.py [--entries 100000] [--export-runs 10000] [--keep DIR]

No lab is needed. Set-up: a reports directory whose ledger holds ``--entries`` entries,
entered one by one through the real ledger code: runs (``append_run``), with a skip
(``append_skip``) every 40th entry and a finding opened (``append_finding``) on a missed
run every 100th. Each run's report directory is a copy of one report written by the
real writer per drill and verdict variant, its run id and times rewritten to its own
(the same lengths, so every copy has its template's size) and its ``manifest.json``
recomputed: writing 100,000 reports with the writer would take hours. Runs start 30
minutes apart from 2025-01-01. ``--keep DIR`` keeps the reports directory, and a later
run with the same ``--keep`` reuses it.

Measured, each in a process of its own (wall time, and peak RSS from ``wait4``), in
one run on the same files, after one untimed read of every file so that all steps
find them in the page cache:

- ``hash baseline``: the least verify can cost, a minimal loop that reads and SHA-256
  hashes the ledger and every file of every run directory, in Python;
- ``verify``: ``drill evidence verify`` over all entries, as a user runs it;
- ``verify --since``: the same, re-reading the reports of the newest
  ``--export-runs`` runs only (the chain is always checked whole);
- ``export``: ``drill evidence export`` of the period holding the newest
  ``--export-runs`` runs.

Every step's result is checked: verify says intact, export bundles the runs asked for.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.reporting.conftest import UTC_ORIGIN, make_record

from drillkit.evidence.ledger import (
    FindingAction,
    RunEntry,
    append_finding,
    append_run,
    append_skip,
    digest_bytes,
    ledger_path,
)
from drillkit.reporting.writer import (
    MANIFEST_FILE_NAME,
    Manifest,
    encode_manifest,
    write_run_report,
)

DRILLS = ("zone-failure", "zone-outage", "pod-kill", "etcd-restore", "region-failover")
VARIANTS = ("met", "met", "missed", "markers", "interrupted")
START = datetime(2025, 1, 1, tzinfo=UTC)
SPACING = timedelta(minutes=30)
SKIP_EVERY = 40
FINDING_EVERY = 100
DRILL = str(Path(sys.executable).with_name("drill"))

# The least verify can cost: read and hash the ledger and every report file, nothing else.
HASH_BASELINE = """
import hashlib, os, sys
def digest(path):
    descriptor = os.open(path, os.O_RDONLY)
    hashed = hashlib.sha256()
    while chunk := os.read(descriptor, 1 << 20):
        hashed.update(chunk)
    os.close(descriptor)
    return hashed.hexdigest()
root = sys.argv[1]
digest(os.path.join(root, "ledger.jsonl"))
files = 0
for drill in os.scandir(root):
    if not drill.is_dir():
        continue
    for run in os.scandir(drill.path):
        for item in os.scandir(run.path):
            digest(item.path)
            files += 1
print(files)
"""


# Runs a command and writes its peak RSS (kB) to a file. A child's RSS high-water starts
# from the memory of the process that forked it, so the fork happens here, in a bare
# interpreter (-S) of a few MB, never in this benchmark's process with drillkit loaded.
PEAK_LAUNCHER = """
import os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as peak:
    peak.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_id_of(started: datetime, index: int) -> str:
    return f"{started:%Y%m%d-%H%M%S}-{index:06x}"


def minute_of(started: datetime) -> bytes:
    # Every timestamp of a template run falls in its first minute (its runs last < 60 s).
    return f"{started:%Y-%m-%dT%H:%M:}".encode()


# -- set-up ---------------------------------------------------------------------------------


def write_templates(root: Path) -> dict[tuple[str, str], Path]:
    """One report per drill and variant, written by the real writer."""
    templates = {}
    for drill in DRILLS:
        for variant in sorted(set(VARIANTS)):
            record = make_record(
                variant,  # type: ignore[arg-type]
                run_id=run_id_of(UTC_ORIGIN, 0),
                drill=drill,
                started_utc=UTC_ORIGIN,
            )
            templates[drill, variant] = write_run_report(record, root / variant)
    return templates


def stamp_runs(reports_dir: str, templates: dict[tuple[str, str], str], plan: list[int]) -> None:
    """Copy a template into each run's directory, rewritten to the run's id and time."""
    old_id = run_id_of(UTC_ORIGIN, 0).encode()
    old_minute = minute_of(UTC_ORIGIN)
    contents = {
        key: {
            path.name: path.read_bytes()
            for path in Path(template).iterdir()
            if path.name != MANIFEST_FILE_NAME
        }
        for key, template in templates.items()
    }
    for index in plan:
        started = START + index * SPACING
        drill = DRILLS[index % len(DRILLS)]
        variant = VARIANTS[index % len(VARIANTS)]
        new_id = run_id_of(started, index).encode()
        new_minute = minute_of(started)
        run_dir = Path(reports_dir) / drill / new_id.decode()
        run_dir.mkdir(parents=True)
        digests = {}
        for name, data in contents[drill, variant].items():
            stamped = data.replace(old_id, new_id).replace(old_minute, new_minute)
            (run_dir / name).write_bytes(stamped)
            digests[name] = digest_bytes(stamped)
        manifest = Manifest(algorithm="sha256", files=dict(sorted(digests.items())))
        (run_dir / MANIFEST_FILE_NAME).write_bytes(encode_manifest(manifest))


def plan_entries(entries: int) -> list[str]:
    """The kind of each entry, in ledger order."""
    kinds = []
    for number in range(1, entries + 1):
        if number % SKIP_EVERY == 0:
            kinds.append("skip")
        elif number % FINDING_EVERY == 50:
            kinds.append("finding")
        else:
            kinds.append("run")
    return kinds


@dataclass(frozen=True, kw_only=True)
class SetUp:
    runs: int
    skips: int
    findings: int
    write_seconds: float | None
    append_seconds: float | None
    appended: int


def prepare(reports_dir: Path, entries: int) -> SetUp:
    """Write and enter ``entries`` entries unless they are there."""
    kinds = plan_entries(entries)
    runs = kinds.count("run")
    counts = {"runs": runs, "skips": kinds.count("skip"), "findings": kinds.count("finding")}
    ledger = ledger_path(reports_dir)
    if ledger.exists() and ledger.read_bytes().count(b"\n") == entries:
        log(f"reusing {entries} entries in {reports_dir}")
        return SetUp(**counts, write_seconds=None, append_seconds=None, appended=0)
    shutil.rmtree(reports_dir, ignore_errors=True)
    reports_dir.mkdir(parents=True)

    templates = write_templates(reports_dir.parent / "templates")
    log(f"copying {runs} report directories from {len(templates)} templates (two processes)")
    started = time.monotonic()
    as_text = {key: str(path) for key, path in templates.items()}
    with ProcessPoolExecutor(max_workers=2) as pool:
        halves = [list(range(runs))[part::2] for part in range(2)]
        list(pool.map(stamp_runs, [str(reports_dir)] * 2, [as_text] * 2, halves))
    write_seconds = time.monotonic() - started
    log(f"report directories written in {write_seconds:.1f} s")

    started = time.monotonic()
    run_index = 0
    last_missed: RunEntry | None = None
    for number, kind in enumerate(kinds, start=1):
        if kind == "run":
            moment = START + run_index * SPACING
            run_dir = reports_dir / DRILLS[run_index % len(DRILLS)] / run_id_of(moment, run_index)
            entry = append_run(reports_dir, run_dir)
            if entry.verdict != "met":
                last_missed = entry
            run_index += 1
        elif kind == "skip":
            append_skip(
                reports_dir,
                drill=DRILLS[number % len(DRILLS)],
                reason="blackout window change-freeze",
                scheduled_for=START + run_index * SPACING + SPACING / 2,
                schedule="hourly",
            )
        else:
            append_finding(
                reports_dir,
                finding=None,
                action=FindingAction.OPENED,
                service="checkout",
                disruption="zone-outage",
                text="verdict missed: RTO above its objective",
                run=last_missed,
            )
        if number % 10_000 == 0:
            elapsed = time.monotonic() - started
            each = 1000 * elapsed / number
            log(f"appended {number} entries in {elapsed:.1f} s ({each:.2f} ms each)")
    append_seconds = time.monotonic() - started
    shutil.rmtree(reports_dir.parent / "templates")
    return SetUp(
        **counts, write_seconds=write_seconds, append_seconds=append_seconds, appended=entries
    )


# -- measuring ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Step:
    name: str
    seconds: float
    peak_mb: float
    stdout: str
    exit_code: int


def measure(name: str, command: list[str]) -> Step:
    """Run ``command`` in a process of its own: its wall time and peak RSS."""
    log(f"{name} ...")
    with tempfile.TemporaryDirectory() as scratch:
        peak_file = Path(scratch) / "peak"
        started = time.monotonic()
        finished = subprocess.run(
            [sys.executable, "-S", "-c", PEAK_LAUNCHER, str(peak_file), *command],
            capture_output=True,
            text=True,
        )
        seconds = time.monotonic() - started
        peak_kb = int(peak_file.read_text())
    if finished.returncode not in (0, 1):
        raise RuntimeError(f"{name} failed ({finished.returncode}): {finished.stderr[-2000:]}")
    return Step(
        name=name,
        seconds=seconds,
        peak_mb=peak_kb / 1024,
        stdout=finished.stdout,
        exit_code=finished.returncode,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--export-runs", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, default=None, help="keep (and reuse) the reports here")
    arguments = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="drillkit-bench-evidence-"))
    home = (arguments.keep.parent if arguments.keep else scratch) / "drillkit-home"
    os.environ["DRILLKIT_HOME"] = str(home)
    reports_dir = arguments.keep or scratch / "reports"
    try:
        setup = prepare(reports_dir, arguments.entries)
        first_exported = START + (setup.runs - arguments.export_runs) * SPACING
        since = f"{first_exported:%Y-%m-%dT%H:%M:%SZ}"
        last_day = f"{START + setup.runs * SPACING:%Y-%m-%d}"
        size = sum(
            entry.stat().st_size
            for drill in os.scandir(reports_dir)
            if drill.is_dir()
            for run in os.scandir(drill.path)
            for entry in os.scandir(run.path)
        )
        ledger_size = ledger_path(reports_dir).stat().st_size

        warm = [sys.executable, "-c", HASH_BASELINE, str(reports_dir)]
        log("reading every file once, untimed, so every step finds it in the page cache")
        subprocess.run(warm, check=True, capture_output=True)
        reports = ["--reports-dir", str(reports_dir)]
        bundle = scratch / "bundle.zip"
        steps = [
            measure("hash baseline", warm),
            measure(
                "verify --since",
                [DRILL, "evidence", "verify", *reports, "--since", since, "-o", "json"],
            ),
            measure("verify", [DRILL, "evidence", "verify", *reports, "-o", "json"]),
            measure(
                "export",
                [
                    DRILL,
                    "evidence",
                    "export",
                    *reports,
                    "--from",
                    since,
                    "--to",
                    last_day,
                    "--output-file",
                    str(bundle),
                    "-o",
                    "json",
                ],
            ),
        ]
        baseline, since_step, verify_step, export_step = steps
        verified = json.loads(verify_step.stdout)
        verified_since = json.loads(since_step.stdout)
        exported = json.loads(export_step.stdout)
        assert verified["intact"] and verified_since["intact"], verified["problems"][:3]
        assert exported["runs"] == arguments.export_runs, exported

        load = os.getloadavg()[0]
        print("evidence at scale benchmark (bench/evidence_scale.py)")
        print(
            f"  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores; "
            f"load average {load:.2f}; Python {platform.python_version()}"
        )
        print(
            f"  ledger {arguments.entries} entries ({setup.runs} runs, {setup.skips} skips, "
            f"{setup.findings} findings), {ledger_size / 1e6:.1f} MB; "
            f"{baseline.stdout.strip()} report files, {size / 1e9:.2f} GB"
        )
        print(f"  verify --since {since}; export --from {since} --to {last_day}")
        if setup.append_seconds is not None and setup.write_seconds is not None:
            print(f"  set-up: report directories copied in {setup.write_seconds:.1f} s")
            each = 1000 * setup.append_seconds / setup.appended
            print(
                f"  set-up: {setup.appended} entries appended one by one in "
                f"{setup.append_seconds:.1f} s ({each:.2f} ms per entry)"
            )
        print()
        print(f"  {'step':<16} {'seconds':>8} {'peak MB':>8}  {'vs hash':>7}  result")
        zip_mb = exported["bytes"] / 1e6
        results = {
            "hash baseline": f"{baseline.stdout.strip()} files hashed",
            "verify --since": f"intact; {verified_since['runs_checked']} runs re-read",
            "verify": f"intact; {verified['entries']} entries, "
            f"{verified['runs_checked']} runs re-read",
            "export": f"{exported['runs']} runs, {exported['files']} files, {zip_mb:.1f} MB zip",
        }
        for step in steps:
            ratio = step.seconds / baseline.seconds
            print(
                f"  {step.name:<16} {step.seconds:8.2f} {step.peak_mb:8.1f}  {ratio:6.2f}x  "
                f"{results[step.name]}"
            )
        print(
            f"  verify of {arguments.entries} entries: {verify_step.seconds:.1f} s "
            f"(goal <= 10 s: {'met' if verify_step.seconds <= 10 else 'not met'})"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
