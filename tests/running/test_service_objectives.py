"""A drill that proves a service is judged against the service's objectives, end to end.

The drill is the file service of ``drills/file-service.yaml`` (no cluster) without an
RTO of its own; the service file promises one. The run's verdict follows the promise,
and its report says which promise it proves, from which file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from tests.running.test_drill_run import DRILLS, read_report, run_drill


def proving_drill(tmp_path: Path, *, promised_rto: str) -> Path:
    service = tmp_path / "services" / "files.yaml"
    service.parent.mkdir()
    service.write_text(
        yaml.safe_dump(
            {
                "name": "files",
                "owners": ["storage-team"],
                "workloads": [{"kind": "Deployment", "namespace": "default", "name": "files"}],
                "objectives": {"pod": {"rto": promised_rto, "prove_every": "30d"}},
            }
        )
    )
    drill = yaml.safe_load((DRILLS / "file-service.yaml").read_text())
    del drill["objectives"]["rto"]
    drill["experiment"] = str(DRILLS / "file-service-experiment.yaml")
    drill["proves"] = {"service": "../services/files.yaml", "disruption": "pod"}
    path = tmp_path / "drills" / "file-service.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(drill))
    return path


@pytest.mark.parametrize(("promised_rto", "verdict"), [("30s", "met"), ("1s", "missed")])
def test_the_verdict_follows_the_service_promise_the_drill_proves(
    tmp_path: Path, promised_rto: str, verdict: str
) -> None:
    result = run_drill(tmp_path, proving_drill(tmp_path, promised_rto=promised_rto), HEAL_AFTER="2")

    assert json.loads(result.stdout)["verdict"] == verdict, result.stderr
    report, report_dir = read_report(result)
    assert report["objectives"]["rto"]["text"] == promised_rto
    service_file = tmp_path / "services" / "files.yaml"
    assert report["promise"] == {
        "service": "files",
        "disruption": "pod",
        "owners": ["storage-team"],
        "rto_seconds": {"30s": 30.0, "1s": 1.0}[promised_rto],
        "rpo_seconds": None,
        "prove_every_seconds": 30 * 86400.0,
        "service_file": {
            "path": str(service_file),
            "sha256": hashlib.sha256(service_file.read_bytes()).hexdigest(),
        },
        "service_objectives": [
            {
                "disruption": "pod",
                "rto_seconds": {"30s": 30.0, "1s": 1.0}[promised_rto],
                "rpo_seconds": None,
                "prove_every_seconds": 30 * 86400.0,
            }
        ],
    }
    page = (report_dir / "report.html").read_text()
    assert "service files survives a pod disruption: promised RTO" in page
    assert (
        "| Proves | service files survives a pod disruption"
        in (report_dir / "report.md").read_text()
    )
