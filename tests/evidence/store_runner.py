"""A runner in a process of its own, for the evidence store's tests.

``append URL REPORTS DRILL COUNT``: writes COUNT runs of DRILL to a local ledger in
REPORTS, prints ``ready``, waits for a line on stdin, then enters each in the store.

``upload-and-block URL REPORTS``: writes one run, uploads its report to the store,
prints ``uploaded`` and blocks, as a runner stopped between its upload and its entry.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from drillkit.drivers.objectstore import Retention, RetentionMode
from drillkit.evidence.ledger import append_run, read_ledger
from drillkit.evidence.store import EvidenceStore
from tests.evidence import conftest


def main(arguments: list[str]) -> None:
    command, url, reports = arguments[:3]
    reports_dir = Path(reports)
    conftest._template_root.append(
        Path(tempfile.mkdtemp(prefix="templates-", dir=reports_dir.parent))
    )
    store = EvidenceStore(url, retention=Retention(mode=RetentionMode.COMPLIANCE, days=1))
    if command == "append":
        drill, count = arguments[3], int(arguments[4])
        for index in range(count):
            append_run(reports_dir, conftest.write_run(reports_dir, index, drill=drill))
        print("ready", flush=True)
        sys.stdin.readline()
        for line in read_ledger(reports_dir):
            store.push(reports_dir, line, signing_key=None, runner=drill)
        print("done", flush=True)
    elif command == "upload-and-block":
        run_dir = conftest.write_run(reports_dir, 0, drill="killed")
        entry = append_run(reports_dir, run_dir)
        store.upload_report(reports_dir, entry)
        print("uploaded", flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main(sys.argv[1:])
