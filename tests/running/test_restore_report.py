"""``drill run`` of a drill whose method restores: the restore reaches report.json and
report.md through the runner, with no cluster (the restore action is a stand-in)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.running.test_drill_run import DRILLS, read_report, run_drill


def test_the_restored_objects_by_kind_reach_the_report_of_a_run(tmp_path: Path) -> None:
    experiment = yaml.safe_load((DRILLS / "file-service-experiment.yaml").read_text())
    experiment["method"].insert(
        1,
        {
            "type": "action",
            "name": "restore-the-shop",
            "provider": {
                "type": "python",
                "module": "tests.running.restore_action",
                "func": "report_a_restore",
            },
        },
    )
    drill = yaml.safe_load((DRILLS / "file-service.yaml").read_text())
    drill["name"] = "file-service-restore"
    drill["experiment"] = "restore-experiment.yaml"
    (tmp_path / "restore-experiment.yaml").write_text(yaml.safe_dump(experiment))
    (tmp_path / "restore.yaml").write_text(yaml.safe_dump(drill))

    result = run_drill(tmp_path, tmp_path / "restore.yaml", HEAL_AFTER="1")

    assert result.returncode == 0, result.stderr
    report, report_dir = read_report(result)
    assert report["restore"] == {
        "backup": "backup-1",
        "target": "region-b",
        "namespaces": ["shop"],
        "objects_by_kind": {"Deployment": 1, "Namespace": 1, "Secret": 1},
        "created": 3,
        "replaced": 0,
        "skipped": 1,
    }
    markdown = (report_dir / "report.md").read_text()
    assert "| Secret | 1 |" in markdown
    assert "| **Total restored** | **3** |" in markdown
