"""Exporting a period of 1,000 runs: ``drill evidence export`` beside a plain zip of the same files.

    .venv/bin/python bench/export.py [--runs 1000] [--keep DIR] [--pdf]

Set-up: ``--runs`` report directories written by the real report writer (five drills,
the verdict variants the tests use, runs two hours apart from 2025-01-01), each entered
in the ledger with ``append_run``. Writing them renders a chart per run and takes
minutes; ``--keep DIR`` keeps them, and a later run with the same ``--keep`` reuses them.

Measured, each once, wall time:

- ``append``: entering every run in the ledger (during set-up only);
- ``verify``: ``verify_ledger`` over all runs (chain, every report file re-hashed);
- ``export``: ``export_bundle`` of the whole period (verification included);
- ``plain zip``: the peer, a ``zipfile`` of the same report files with the same
  compression and nothing else: what copying the evidence costs at least.

Then the bundle is checked as an auditor would: the zip opens and passes its CRC
check, ``index.csv`` parses with one row per run, and ``index.html`` renders in
headless Chromium with every run in its table.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.reporting.conftest import make_record

from drillkit.evidence.controls import load_catalogue
from drillkit.evidence.export import export_bundle
from drillkit.evidence.ledger import append_run, read_ledger
from drillkit.evidence.verify import verify_ledger
from drillkit.reporting.writer import write_run_report

DRILLS = ("zone-failure", "zone-outage", "pod-kill", "etcd-restore", "region-failover")
VARIANTS = ("met", "met", "missed", "markers", "interrupted")
START = datetime(2025, 1, 1, tzinfo=UTC)
SPACING = timedelta(hours=2)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def write_runs(reports_dir: str, indexes: list[int]) -> list[str]:
    written = []
    for index in indexes:
        started = START + index * SPACING
        record = make_record(
            VARIANTS[index % len(VARIANTS)],  # type: ignore[arg-type]
            run_id=f"{started:%Y%m%d-%H%M%S}-{index:06x}",
            drill=DRILLS[index % len(DRILLS)],
            started_utc=started,
        )
        written.append(str(write_run_report(record, Path(reports_dir))))
    return written


def prepare(reports_dir: Path, runs: int) -> float | None:
    """Write and enter ``runs`` runs unless they are there; the append time, if appended."""
    if (reports_dir / "ledger.jsonl").exists() and len(read_ledger(reports_dir)) == runs:
        log(f"reusing {runs} runs in {reports_dir}")
        return None
    shutil.rmtree(reports_dir, ignore_errors=True)
    reports_dir.mkdir(parents=True)
    log(f"writing {runs} run reports with the real writer (two processes)")
    started = time.monotonic()
    halves = [list(range(runs))[part::2] for part in range(2)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        written = [
            path for chunk in pool.map(write_runs, [str(reports_dir)] * 2, halves) for path in chunk
        ]
    log(f"reports written in {time.monotonic() - started:.1f} s")
    ordered = sorted(written, key=lambda path: Path(path).name)
    started = time.monotonic()
    for path in ordered:
        append_run(reports_dir, Path(path))
    return time.monotonic() - started


def plain_zip(reports_dir: Path, output: Path) -> float:
    started = time.monotonic()
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(reports_dir.glob("*/*/*")):
            bundle.write(path, path.relative_to(reports_dir).as_posix())
    return time.monotonic() - started


def check_in_chromium(index_html: Path, profile: Path) -> tuple[int, float]:
    started = time.monotonic()
    dom = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--dump-dom",
            index_html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    rows = dom.split('<table class="runs">', 1)[1].split("</table>", 1)[0].count("<tr>") - 1
    return rows, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--keep", type=Path, default=None, help="keep (and reuse) the reports here")
    parser.add_argument("--pdf", action="store_true", help="also render index.pdf (slow)")
    arguments = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="drillkit-bench-export-"))
    os.environ["DRILLKIT_HOME"] = str(scratch / "home")
    reports_dir = arguments.keep or scratch / "reports"
    try:
        append_seconds = prepare(reports_dir, arguments.runs)
        size = sum(path.stat().st_size for path in reports_dir.glob("*/*/*"))

        started = time.monotonic()
        verification = verify_ledger(reports_dir)
        verify_seconds = time.monotonic() - started
        assert verification.intact, verification.problems[:3]

        bundle_path = scratch / "bundle.zip"
        started = time.monotonic()
        result = export_bundle(
            reports_dir,
            bundle_path,
            start=START,
            end=START + arguments.runs * SPACING + timedelta(days=1),
            catalogue=load_catalogue(),
            include_pdf=arguments.pdf,
        )
        export_seconds = time.monotonic() - started
        zip_seconds = plain_zip(reports_dir, scratch / "plain.zip")

        with zipfile.ZipFile(bundle_path) as bundle:
            assert bundle.testzip() is None
            rows = list(csv.DictReader(io.StringIO(bundle.read("index.csv").decode("utf-8"))))
            bundle.extract("index.html", scratch / "unpacked")
        html_rows, chromium_seconds = check_in_chromium(
            scratch / "unpacked" / "index.html", scratch / "chromium"
        )

        load = os.getloadavg()[0]
        print("evidence export benchmark (bench/export.py)")
        print(
            f"  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores; "
            f"load average {load:.2f}; Python {sys.version.split()[0]}"
        )
        print(
            f"  {arguments.runs} runs of {len(DRILLS)} drills, report files {size / 1e6:.1f} MB"
            + (", index.pdf included" if arguments.pdf else "")
        )
        if append_seconds is not None:
            print(
                f"  append   {append_seconds:7.2f} s  "
                f"({1000 * append_seconds / arguments.runs:.2f} ms per run)"
            )
        print(f"  verify   {verify_seconds:7.2f} s")
        print(
            f"  export   {export_seconds:7.2f} s  ({result.runs} runs, {result.files} files, "
            f"{result.bytes / 1e6:.1f} MB zip)"
        )
        print(f"  plain zip of the same report files {zip_seconds:7.2f} s")
        print(f"  ratio export/plain zip: {export_seconds / zip_seconds:.2f}x")
        print(
            f"  checks: zip CRC ok; index.csv {len(rows)} rows; index.html in headless "
            f"Chromium {html_rows} rows ({chromium_seconds:.1f} s)"
        )
        assert len(rows) == html_rows == arguments.runs
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
