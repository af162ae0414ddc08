"""``drill schedule`` as a person uses it: add, list, pause, resume, fire, history, export."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from drillkit.cli.main import cli
from drillkit.evidence.ledger import SkipEntry, find_run_dirs, read_ledger
from tests.cli_schemas import assert_matches_schema
from tests.scheduling.conftest import TEST_DRILLS

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> None:
    monkeypatch.setenv("DRILL_SCHEDULER_DATABASE", sqlite_url)
    monkeypatch.setenv("DRILL_DRILLS_DIR", str(TEST_DRILLS))
    monkeypatch.setenv("DRILL_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("DRILL_GAMEDAYS_DIR", str(tmp_path / "gamedays"))
    monkeypatch.setenv("DRILL_SCHEDULE_POLICY", str(tmp_path / "schedule-policy.yaml"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))


def drill(*arguments: str) -> Result:
    return CliRunner().invoke(cli, list(arguments))


def test_a_schedule_is_added_and_listed_with_its_next_fires() -> None:
    added = drill("schedule", "add", "noop", "--cron", "0 10 * * TUE", "--tz", "Europe/Berlin")

    assert added.exit_code == 0, added.output
    assert added.output.startswith(
        "schedule noop: drill noop, 0 10 * * TUE Europe/Berlin, misfire grace 30m\n"
    )
    assert "next fires: Tue " in added.output and " 10:00 CE" in added.output
    listed = drill("schedule", "list", "--next", "3", "-o", "json")
    (entry,) = assert_matches_schema("schedule-list", listed.output)
    assert entry["name"] == "noop" and entry["paused"] is False
    assert len(entry["next_fires"]) == 3
    assert all(fire.endswith(("+01:00", "+02:00")) for fire in entry["next_fires"])


def test_the_drill_files_schedule_section_gives_the_defaults(tmp_path: Path) -> None:
    drills = tmp_path / "drills"
    shutil.copytree(TEST_DRILLS, drills)
    path = drills / "noop.yaml"
    path.write_text(
        path.read_text()
        + "schedule:\n  cron: '30 9 * * 1-5'\n  timezone: Europe/Berlin\n"
        + "  jitter: 10m\n  misfire_grace: 1h\n  coalesce: false\n"
    )

    added = drill("schedule", "add", "noop", "--drills-dir", str(drills))

    assert added.exit_code == 0, added.output
    assert added.output.splitlines()[0] == (
        "schedule noop: drill noop, 30 9 * * 1-5 Europe/Berlin, jitter 10m, misfire grace 1h, "
        "no coalescing"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--cron", "0 25 * * TUE"],
            "drill: error: invalid cron expression '0 25 * * TUE': Error validating expression "
            "'25': the last value (25) is higher than the maximum value (23)",
        ),
        (
            ["--cron", "0 10 * *"],
            "drill: error: --cron: invalid cron expression '0 10 * *': expected 5 fields",
        ),
        (
            ["--cron", "0 10 * * TUE", "--tz", "Berlin"],
            "drill: error: --tz: unknown time zone 'Berlin'",
        ),
        ([], "drill: error: drill 'noop' has no schedule.cron in its file: give --cron"),
        (
            ["--cron", "*/5 * * * *", "--jitter", "10m"],
            "drill: error: jitter 10m is not shorter than the 5m between fires of '*/5 * * * *'",
        ),
    ],
)
def test_bad_schedules_are_refused_in_one_line(
    arguments: list[str], message: str, capfd: pytest.CaptureFixture[str]
) -> None:
    from drillkit.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["schedule", "add", "noop", *arguments])

    assert exited.value.code == 2
    assert capfd.readouterr().err.startswith(message)


def test_pause_and_resume_show_in_the_list() -> None:
    drill("schedule", "add", "noop", "--cron", "0 10 * * *")

    assert drill("schedule", "pause", "noop").output == "paused schedule noop\n"
    listed = drill("schedule", "list")
    assert "paused" in listed.output.splitlines()[1]
    resumed = drill("schedule", "resume", "noop")
    assert resumed.output.startswith("resumed schedule noop; next fire ")
    assert drill("schedule", "remove", "noop").output == "removed schedule noop (drill noop)\n"
    assert drill("schedule", "list").output.startswith("no schedules")


def test_firing_by_hand_runs_the_drill_and_records_it() -> None:
    drill("schedule", "add", "noop", "--cron", "0 10 * * *")

    fired = drill("schedule", "fire", "noop", "--output", "json")

    assert fired.exit_code == 0, fired.output
    summary = assert_matches_schema("schedule-fire", fired.stdout.strip().splitlines()[-1])
    assert summary["outcome"] == "ran" and summary["verdict"] == "met"
    assert summary["scheduler"] == "manual"
    history = drill("schedule", "history", "noop", "-o", "json").output
    history = assert_matches_schema("schedule-history", history)
    assert [entry["summary"] for entry in history] == [summary["summary"]]


def test_a_fire_inside_a_blackout_is_skipped_exits_0_and_is_in_the_history(
    tmp_path: Path,
) -> None:
    (tmp_path / "schedule-policy.yaml").write_text(
        "blackouts:\n  - {name: always, start: 2000-01-01T00:00, end: 2100-01-01T00:00}\n"
    )

    fired = drill("schedule", "fire", "noop")

    assert fired.exit_code == 0, fired.output
    assert fired.output == (
        "noop: skipped: blackout: inside blackout window 'always' "
        "(2000-01-01T00:00:00+00:00 to 2100-01-01T00:00:00+00:00)\n"
    )
    history = drill("schedule", "history").output.splitlines()
    assert history[0].split() == ["FIRE", "TIME", "(UTC)", "SCHEDULE", "SCHEDULER", "OUTCOME"]
    assert "manual" in history[1] and "skipped: blackout: inside blackout window" in history[1]
    # No drill ran, so no run report; the evidence ledger records the skip.
    assert find_run_dirs(tmp_path / "reports") == []
    (line,) = read_ledger(tmp_path / "reports")
    assert isinstance(line.entry, SkipEntry) and line.entry.reason.startswith("blackout:")


def test_an_invalid_policy_file_names_its_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "schedule-policy.yaml").write_text(
        "blackouts:\n  - name: freeze\n    start: 2026-12-20T00:00\n    end: soon\n"
    )

    fired = drill("schedule", "fire", "noop", "--output", "json")

    assert fired.exit_code == 3
    summary = json.loads(fired.output)
    assert summary["outcome"] == "error"
    assert summary["reason"].startswith(f"{tmp_path}/schedule-policy.yaml:4:10: blackouts[0].end:")


# -- blackouts in the list ---------------------------------------------------------------------


@pytest.fixture
def december(monkeypatch: pytest.MonkeyPatch) -> None:
    """Listing on 1 December 2026, before the shipped game day's year-end freeze."""
    monkeypatch.setattr(
        "drillkit.cli.schedule._now", lambda: datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    )


@pytest.mark.usefixtures("december")
def test_the_list_marks_a_next_fire_inside_a_blackout_and_the_next_fire_outside(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DRILL_GAMEDAYS_DIR", str(REPOSITORY / "gamedays"))
    drill("schedule", "add", "quarterly-resilience", "--gameday")

    listed = drill("schedule", "list", "--next", "2")

    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[1].split("  ")[0] == "quarterly-resilience"
    assert "Fri 2027-01-01 10:00 CET !  -" in lines[1]
    assert lines[2].strip() == "Thu 2027-04-01 10:00 CEST"
    assert lines[3] == (
        "  ! Fri 2027-01-01 10:00 CET: skipped, inside blackout 'year-end change freeze' "
        "(Fri 2026-12-18 18:00 CET to Mon 2027-01-04 08:00 CET); "
        "next fire outside blackouts: Thu 2027-04-01 10:00 CEST"
    )
    (entry,) = json.loads(drill("schedule", "list", "--next", "2", "--output", "json").output)
    assert entry["next_fires_blackouts"] == [
        {
            "name": "year-end change freeze",
            "start": "2026-12-18T18:00:00+01:00",
            "end": "2027-01-04T08:00:00+01:00",
        },
        None,
    ]
    assert entry["next_fire_outside_blackouts"] == "2027-04-01T10:00:00+02:00"
    assert entry["blackouts_unknown"] is None


@pytest.mark.usefixtures("december")
def test_the_policy_files_blackouts_mark_the_list_too(tmp_path: Path) -> None:
    (tmp_path / "schedule-policy.yaml").write_text(
        "blackouts:\n  - {name: audit week, start: 2026-12-07T00:00, end: 2026-12-14T00:00}\n"
    )
    drill("schedule", "add", "noop", "--cron", "0 10 * * MON")

    (entry,) = json.loads(drill("schedule", "list", "--next", "3", "--output", "json").output)

    assert entry["next_fires"] == [
        "2026-12-07T10:00:00+00:00",
        "2026-12-14T10:00:00+00:00",
        "2026-12-21T10:00:00+00:00",
    ]
    assert [b and b["name"] for b in entry["next_fires_blackouts"]] == ["audit week", None, None]
    assert entry["next_fire_outside_blackouts"] == "2026-12-14T10:00:00+00:00"


@pytest.mark.usefixtures("december")
def test_a_fire_outside_every_blackout_is_listed_as_before() -> None:
    drill("schedule", "add", "noop", "--cron", "0 10 * * MON")

    listed = drill("schedule", "list")

    assert listed.output.splitlines()[1:] == [
        "noop      drill noop  0 10 * * MON UTC  Mon 2026-12-07 10:00 UTC  -"
    ]


@pytest.mark.usefixtures("december")
def test_a_target_file_that_cannot_be_read_leaves_the_blackouts_unknown(tmp_path: Path) -> None:
    drills = tmp_path / "drills"
    shutil.copytree(TEST_DRILLS, drills)
    drill("schedule", "add", "noop", "--drills-dir", str(drills), "--cron", "0 10 * * MON")
    (drills / "noop.yaml").unlink()

    listed = drill("schedule", "list", "--drills-dir", str(drills))

    assert listed.output.splitlines()[2] == (
        f"  ? blackout windows unknown: no drill named 'noop': {drills}/noop.yaml does not exist"
    )
    (entry,) = json.loads(
        drill("schedule", "list", "--drills-dir", str(drills), "--output", "json").output
    )
    assert entry["blackouts_unknown"].startswith("no drill named 'noop'")


# -- export ------------------------------------------------------------------------------------


def exported(*arguments: str) -> list[dict[str, Any]]:
    result = drill("schedule", "export", "--kind", "cronjob", *arguments)
    assert result.exit_code == 0, result.output
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_export_writes_a_cronjob_per_schedule_with_its_files_and_rbac() -> None:
    drills = str(REPOSITORY / "drills")
    drill("schedule", "add", "pod-kill", "--drills-dir", drills, "--cron", "0 10 * * TUE",
          "--tz", "Europe/Berlin", "--misfire-grace", "1h")  # fmt: skip
    drill("schedule", "pause", "pod-kill")
    drill("schedule", "add", "etcd-restore", "--drills-dir", drills, "--cron", "0 3 1 * *")

    manifests = exported("--drills-dir", drills, "--image", "registry.example/drillkit:1")

    kinds = [(m["kind"], m["metadata"]["name"]) for m in manifests]
    assert ("ServiceAccount", "drillkit-runner") in kinds
    assert ("ClusterRole", "drillkit-runner") in kinds
    assert ("RoleBinding", "drillkit-runner-state") in kinds
    # Node patches are kept to cordons on the server, as deploy/ sets up any cluster.
    assert ("ValidatingAdmissionPolicy", "drillkit-runner-node-patches") in kinds
    assert ("ValidatingAdmissionPolicyBinding", "drillkit-runner-node-patches") in kinds
    # Pods may be disrupted, and markers written, only in the namespaces the drills target.
    bindings = {
        (m["metadata"]["namespace"], m["roleRef"]["name"])
        for m in manifests
        if m["kind"] == "RoleBinding" and m["roleRef"]["name"] != "drillkit-runner-state"
    }
    assert bindings == {("shop", "drillkit-runner"), ("shop", "drillkit-markers")}
    assert not [
        m
        for m in manifests
        if m["kind"] == "ClusterRoleBinding"
        and m["roleRef"]["name"] in ("drillkit-runner", "drillkit-markers")
    ]
    (cronjob,) = [
        m for m in manifests if m["kind"] == "CronJob" and m["metadata"]["name"] == "drill-pod-kill"
    ]
    spec = cronjob["spec"]
    assert spec["schedule"] == "0 10 * * TUE"
    assert spec["timeZone"] == "Europe/Berlin"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] == 3600
    assert spec["suspend"] is True
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "drillkit-runner"
    (container,) = pod["containers"]
    assert container["image"] == "registry.example/drillkit:1"
    assert container["command"][:5] == ["drill", "schedule", "fire", "pod-kill", "--target"]
    (files,) = [m for m in manifests if m["metadata"]["name"] == "drill-pod-kill-files"]
    items = next(v for v in pod["volumes"] if v["name"] == "files")["configMap"]["items"]
    # Every file the drill reads: itself, its experiment and the service it proves.
    assert {item["path"] for item in items} == {
        "drills/pod-kill.yaml",
        "experiments/pod-kill.yaml",
        "services/shop.yaml",
    }
    assert (
        files["data"]["drills__pod-kill.yaml"] == (REPOSITORY / "drills/pod-kill.yaml").read_text()
    )
    assert files["data"]["services__shop.yaml"] == (REPOSITORY / "services/shop.yaml").read_text()


def pod_spec(manifests: list[dict[str, Any]], name: str = "drill-pod-kill") -> dict[str, Any]:
    (cronjob,) = [m for m in manifests if m["kind"] == "CronJob" and m["metadata"]["name"] == name]
    spec: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def test_export_keeps_reports_and_the_ledger_on_the_named_claim_and_warns_without_one() -> None:
    drills = str(REPOSITORY / "drills")
    drill("schedule", "add", "pod-kill", "--drills-dir", drills, "--cron", "0 10 * * TUE")

    claimed = drill("schedule", "export", "--drills-dir", drills, "--reports-claim", "evidence")
    unclaimed = drill("schedule", "export", "--drills-dir", drills)

    assert claimed.exit_code == 0, claimed.output
    assert claimed.stderr == ""
    pod = pod_spec([d for d in yaml.safe_load_all(claimed.stdout) if d])
    (state,) = [v for v in pod["volumes"] if v["name"] == "state"]
    assert state == {"name": "state", "persistentVolumeClaim": {"claimName": "evidence"}}
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    # The state directory holds the ledger, and the reports directory is inside it.
    assert mounts["/var/lib/drillkit"] == "state"
    assert {"name": "DRILLKIT_HOME", "value": "/var/lib/drillkit"} in container["env"]
    command = container["command"]
    assert command[command.index("--reports-dir") + 1] == "/var/lib/drillkit/reports"
    assert unclaimed.exit_code == 0, unclaimed.output
    assert "go to an emptyDir and are lost with each pod" in unclaimed.stderr
    pod = pod_spec([d for d in yaml.safe_load_all(unclaimed.stdout) if d])
    assert {"name": "state", "emptyDir": {}} in pod["volumes"]


def test_export_places_pods_and_names_the_api_server_it_is_given() -> None:
    drills = str(REPOSITORY / "drills")
    drill("schedule", "add", "pod-kill", "--drills-dir", drills, "--cron", "0 10 * * TUE")

    default = pod_spec(exported("--drills-dir", drills))
    placed = exported(
        "--drills-dir", drills, "--api-server", "https://127.0.0.1:6443",
        "--node-selector", "drillkit.io/real-node=true",
        "--toleration", "drillkit.io/real-node=true:NoSchedule",
        "--toleration", "dedicated:NoExecute",
    )  # fmt: skip

    assert "hostNetwork" not in default and "nodeSelector" not in default
    assert default["enableServiceLinks"] is False
    pod = pod_spec(placed)
    # A loopback API server is reached from the node's own network, never a Service IP.
    assert (pod["hostNetwork"], pod["dnsPolicy"]) == (True, "Default")
    assert pod["nodeSelector"] == {"drillkit.io/real-node": "true"}
    assert pod["tolerations"] == [
        {"key": "drillkit.io/real-node", "operator": "Equal", "value": "true",
         "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"},
    ]  # fmt: skip
    (kubeconfig,) = [m for m in placed if m["metadata"]["name"] == "drillkit-in-cluster-kubeconfig"]
    document = yaml.safe_load(kubeconfig["data"]["kubeconfig.yaml"])
    assert document["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--toleration", "dedicated"], "toleration 'dedicated': expected KEY[=VALUE]:EFFECT"),
        (["--toleration", "a=b:Sometimes"], "toleration 'a=b:Sometimes': expected"),
        (["--node-selector", "pool"], "node selector 'pool': expected KEY=VALUE"),
    ],
)
def test_export_refuses_a_malformed_placement(arguments: list[str], message: str) -> None:
    result = drill("schedule", "export", "--drills-dir", str(REPOSITORY / "drills"), *arguments)

    assert result.exit_code == 2
    assert message in result.stderr


def test_export_o_json_is_the_same_manifests_as_one_kubernetes_list(tmp_path: Path) -> None:
    drills = str(REPOSITORY / "drills")
    drill("schedule", "add", "pod-kill", "--drills-dir", drills, "--cron", "0 10 * * TUE")
    target = tmp_path / "cronjobs.json"

    as_yaml = exported("--drills-dir", drills)
    as_json = drill("schedule", "export", "--drills-dir", drills, "-o", "json")
    written = drill(
        "schedule", "export", "--drills-dir", drills, "-o", "json", "--output-file", str(target)
    )

    assert as_json.exit_code == 0, as_json.output
    document = assert_matches_schema("schedule-export", as_json.stdout)
    assert (document["apiVersion"], document["kind"]) == ("v1", "List")
    assert document["items"] == as_yaml
    assert written.exit_code == 0, written.output
    assert written.stdout == ""
    assert json.loads(target.read_text()) == document


def test_export_warns_of_each_setting_a_cronjob_cannot_carry(tmp_path: Path) -> None:
    drills = tmp_path / "drills"
    shutil.copytree(TEST_DRILLS, drills)
    production = drills / "noop-production.yaml"
    production.write_text(
        (drills / "noop.yaml").read_text().replace("name: noop", "name: noop-production")
        + "safety:\n  production: true\n"
    )
    given = ["--drills-dir", str(drills), "--cron", "0 10 * * *"]
    drill("schedule", "add", "noop", *given, "--as", "plain")
    drill("schedule", "add", "noop", *given, "--as", "spread", "--jitter", "10m", "--no-coalesce")
    drill("schedule", "add", "noop-production", *given, "--confirm-production", "prod")

    result = drill("schedule", "export", "--drills-dir", str(drills))

    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "drill: warning: schedule noop-production: its CronJob drops the production "
        "confirmation of context 'prod' (the pod has no scheduler database to read it from: "
        "its fires will be refused)",
        "drill: warning: schedule spread: its CronJob drops jitter 10m (a CronJob starts on its "
        "cron minute); coalesce: false (a CronJob starts only the latest of the fires it missed)",
        "drill: warning: reports and the ledger of the CronJobs' runs go to an emptyDir and are "
        "lost with each pod (only the JSON summary stays, in the Job's log); name a "
        "PersistentVolumeClaim with --reports-claim to keep them",
    ]
    cronjobs = [d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "CronJob"]
    assert len(cronjobs) == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--lease-name", "other"], "--lease-name is for --leader-elect, which is not given"),
        (["--lease-duration", "30s"], "--lease-duration is for --leader-elect, which is not given"),
        (["--leader-elect", "--lease-duration", "2s"], "--lease-duration: at least 3s"),
    ],
)
def test_lease_options_without_leader_election_or_too_short_a_lease_are_refused(
    arguments: list[str], message: str
) -> None:
    result = drill("scheduler", "run", *arguments)
    assert result.exit_code == 2
    assert message in result.output
