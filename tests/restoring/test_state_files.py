"""A restore's state files read back what was saved, privately, and name the file
when it is missing or cannot be read: the backup restore's journal and the etcd
restore's state alike, since ``drill recover`` reads them after a crash."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drillkit.drivers.etcd import Snapshot
from drillkit.errors import DrillError
from drillkit.faults.etcd import RestoreState
from drillkit.model.backups import BackupInfo, ObjectKey
from drillkit.model.procedure import (
    EtcdMemberSpec,
    EtcdTargetSpec,
    ProcedureStep,
    RestoreProcedure,
)
from drillkit.restoring.journal import RestoreJournal
from drillkit.restoring.targets import ClusterAddress

TAKEN = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def a_journal() -> RestoreJournal:
    return RestoreJournal(
        run_id="20261205-120000-abcdef",
        backup=BackupInfo(
            name="shop-20261205",
            taken_utc=TAKEN,
            size=1024,
            sha256="0" * 64,
            namespaces=("shop",),
            counts={"ConfigMap": 1},
            source="https://127.0.0.1:6443",
        ),
        store="file:///var/backups",
        target=ClusterAddress(kubeconfig="/home/drill/region-b.yaml", context="region-b"),
        phase="restoring",
        created=[ObjectKey(api_version="v1", kind="ConfigMap", namespace="shop", name="settings")],
    )


def an_etcd_state() -> RestoreState:
    step = ProcedureStep(name="step", run="true")
    return RestoreState(
        run_id="20261205-120000-abcdef",
        mode="data-loss",
        target=EtcdTargetSpec(
            members=(
                EtcdMemberSpec(
                    name="etcd-0",
                    data_dir="/var/lib/etcd",
                    peer_url="http://127.0.0.1:2380",
                    client_url="http://127.0.0.1:2379",
                ),
            ),
        ),
        procedure=RestoreProcedure(kill=(step,), restore=(step,), start=(step,)),
        snapshot=Snapshot(
            path="/var/lib/snapshots/etcd.db",
            taken_utc=TAKEN,
            size=1,
            sha256="0" * 64,
            revision=1,
            total_keys=1,
            endpoint="http://127.0.0.1:2379",
        ),
        affected=("etcd-0",),
        kept={"etcd-0": "/var/lib/etcd.drillkit-kept-20261205-120000-abcdef"},
        phase="disaster",
    )


@pytest.mark.parametrize("state", [a_journal(), an_etcd_state()], ids=["journal", "etcd"])
def test_a_saved_state_reads_back_equal_and_only_its_user_may_read_it(
    state: RestoreJournal | RestoreState, drillkit_home: Path
) -> None:
    path = state.save()

    assert type(state).load(path) == state
    assert path.is_relative_to(drillkit_home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (RestoreJournal, "no restore journal at {path}"),
        (RestoreState, "no etcd restore state at {path}: no disaster ran first"),
    ],
    ids=["journal", "etcd"],
)
def test_a_missing_state_file_is_named(
    kind: type[RestoreJournal | RestoreState], message: str, tmp_path: Path
) -> None:
    path = tmp_path / "absent.json"

    with pytest.raises(DrillError) as missing:
        kind.load(path)

    assert str(missing.value) == message.format(path=path)


@pytest.mark.parametrize(
    ("kind", "what"),
    [(RestoreJournal, "restore journal"), (RestoreState, "etcd restore state")],
    ids=["journal", "etcd"],
)
@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "Expecting property name enclosed in double quotes"),
        ("[]", "Input should be a dictionary or an instance of "),
    ],
    ids=["not-json", "not-an-object"],
)
def test_an_unreadable_state_file_is_named_with_its_problem(
    kind: type[RestoreJournal | RestoreState], what: str, text: str, problem: str, tmp_path: Path
) -> None:
    path = tmp_path / "state.json"
    path.write_text(text)

    with pytest.raises(DrillError) as unreadable:
        kind.load(path)

    assert str(unreadable.value).startswith(f"unreadable {what} {path}: {problem}")


def test_an_etcd_state_whose_target_is_invalid_is_unreadable(tmp_path: Path) -> None:
    path = an_etcd_state().save()
    broken = tmp_path / "broken.json"
    broken.write_text(path.read_text().replace('"members"', '"hosts"'))

    with pytest.raises(DrillError) as unreadable:
        RestoreState.load(broken)

    assert str(unreadable.value) == (
        f"unreadable etcd restore state {broken}: target.members: Field required"
    )


@pytest.mark.parametrize(
    ("kind", "what"),
    [(RestoreJournal, "restore journal"), (RestoreState, "etcd restore state")],
    ids=["journal", "etcd"],
)
def test_a_state_file_lacking_a_field_names_the_first_it_missed(
    kind: type[RestoreJournal | RestoreState], what: str, tmp_path: Path
) -> None:
    path = tmp_path / "state.json"
    path.write_text("{}")

    with pytest.raises(DrillError) as unreadable:
        kind.load(path)

    assert str(unreadable.value) == f"unreadable {what} {path}: run_id: Field required"


DOCUMENTS = Path(__file__).parent / "documents"


@pytest.mark.parametrize(
    ("state", "document"),
    [(a_journal(), "restore-journal.json"), (an_etcd_state(), "etcd-restore-state.json")],
    ids=["journal", "etcd"],
)
def test_a_state_file_is_written_byte_for_byte_as_earlier_versions_wrote_it(
    state: RestoreJournal | RestoreState, document: str, drillkit_home: Path
) -> None:
    path = state.save()

    assert path.read_bytes() == (DOCUMENTS / document).read_bytes()


@pytest.mark.parametrize(
    ("state", "document"),
    [(a_journal(), "restore-journal.json"), (an_etcd_state(), "etcd-restore-state.json")],
    ids=["journal", "etcd"],
)
def test_a_state_file_written_by_an_earlier_version_still_loads(
    state: RestoreJournal | RestoreState, document: str
) -> None:
    assert type(state).load(DOCUMENTS / document) == state
