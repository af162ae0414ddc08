"""Audit evidence: the hash-chained ledger of runs and skips, signatures, verification, export.

Reports (``drillkit.reporting``) say what one run measured; this package proves to an
auditor that the set of reports is complete and unaltered (DESIGN section 5):

- :mod:`~drillkit.evidence.ledger`: ``reports/ledger.jsonl``, one entry per run
  (:func:`append_run`, called by ``drill run`` once the report is written) and per
  skipped scheduled run (:func:`append_skip`, for the scheduler) and per game day
  (:func:`append_gameday`, once its report is written), each linked to the previous by
  its SHA-256 and holding the digests of the report's files;
- :mod:`~drillkit.signing`: optional Ed25519 signatures of entries, the head
  and export bundles;
- :mod:`~drillkit.evidence.verify`: recomputes chain and digests and names exactly what
  was altered, removed, reordered, truncated or left out;
- :mod:`~drillkit.evidence.export`: the zip for an audit period, indexed by run and
  mapped to controls (:mod:`~drillkit.evidence.controls`);
- :mod:`~drillkit.evidence.store`: the same chain for a fleet of runners in an S3 bucket
  with Object Lock (:class:`EvidenceStore`, :func:`sync_ledger`, :func:`verify_store`).

It sits above ``running`` and ``reporting`` and below ``scheduling`` and the CLI.

The names are imported when first asked for: ``drill run`` needs only the ledger, and
the export and the control catalogues would cost every run their imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drillkit.evidence.controls import Catalogue, Control, load_catalogue
    from drillkit.evidence.export import ExportResult, TamperingFound, export_bundle
    from drillkit.evidence.ledger import (
        GameDayEntry,
        RunEntry,
        SkipEntry,
        adopt_runs,
        append_gameday,
        append_run,
        append_skip,
        read_ledger,
    )
    from drillkit.evidence.store import EvidenceStore, sync_ledger, verify_store
    from drillkit.evidence.verify import Anchor, Problem, ProblemKind, Verification, verify_ledger
    from drillkit.signing import (
        SigningKey,
        VerifyKey,
        generate_key_pair,
        load_signing_key,
        load_verify_key,
    )

__all__ = [
    "Anchor",
    "Catalogue",
    "Control",
    "EvidenceStore",
    "ExportResult",
    "GameDayEntry",
    "Problem",
    "ProblemKind",
    "RunEntry",
    "SigningKey",
    "SkipEntry",
    "TamperingFound",
    "Verification",
    "VerifyKey",
    "adopt_runs",
    "append_gameday",
    "append_run",
    "append_skip",
    "export_bundle",
    "generate_key_pair",
    "load_catalogue",
    "load_signing_key",
    "load_verify_key",
    "read_ledger",
    "sync_ledger",
    "verify_ledger",
    "verify_store",
]

_MODULE_OF = {
    "Anchor": "drillkit.evidence.verify",
    "Catalogue": "drillkit.evidence.controls",
    "Control": "drillkit.evidence.controls",
    "EvidenceStore": "drillkit.evidence.store",
    "ExportResult": "drillkit.evidence.export",
    "GameDayEntry": "drillkit.evidence.ledger",
    "Problem": "drillkit.evidence.verify",
    "ProblemKind": "drillkit.evidence.verify",
    "RunEntry": "drillkit.evidence.ledger",
    "SigningKey": "drillkit.signing",
    "SkipEntry": "drillkit.evidence.ledger",
    "TamperingFound": "drillkit.evidence.export",
    "Verification": "drillkit.evidence.verify",
    "VerifyKey": "drillkit.signing",
    "adopt_runs": "drillkit.evidence.ledger",
    "append_gameday": "drillkit.evidence.ledger",
    "append_run": "drillkit.evidence.ledger",
    "append_skip": "drillkit.evidence.ledger",
    "export_bundle": "drillkit.evidence.export",
    "generate_key_pair": "drillkit.signing",
    "load_catalogue": "drillkit.evidence.controls",
    "load_signing_key": "drillkit.signing",
    "load_verify_key": "drillkit.signing",
    "read_ledger": "drillkit.evidence.ledger",
    "sync_ledger": "drillkit.evidence.store",
    "verify_ledger": "drillkit.evidence.verify",
    "verify_store": "drillkit.evidence.store",
}


def __getattr__(name: str) -> object:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value
    return value
