"""Signed backup catalogues: ``drill backup create`` signs with the evidence key, and
``verify`` and ``restore`` refuse an entry the key did not sign, before anything is written.

Whoever may write the store can re-pack an archive and re-hash its catalogue entry, so
digests alone prove nothing about who wrote the entry; the signature does.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from drillkit.drivers.objectstore import LocalStore
from drillkit.lab.cluster import Lab
from drillkit.signing import generate_key_pair
from tests.backup.regions import namespace_exists
from tests.drills.support import drill_environment, run_cli

pytestmark = pytest.mark.lab


def backup_cli(lab: Lab, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = drill_environment(lab)
    for name in ("DRILL_SIGNING_KEY", "DRILL_VERIFY_KEY", "DRILLKIT_BACKUP_STORE"):
        environment.pop(name, None)
    return run_cli(environment, "backup", *arguments)


def test_a_catalogue_entry_the_key_did_not_sign_is_refused_before_a_restore(
    lab: Lab, tmp_path: Path
) -> None:
    signing_key = tmp_path / "keys" / "signing-key.pem"
    _, public_key = generate_key_pair(signing_key)
    _, other_key = generate_key_pair(tmp_path / "other" / "signing-key.pem")
    store = tmp_path / "store"
    created = backup_cli(
        lab,
        *("create", "-n", "shop", "--store", str(store), "--output", "json"),
        *("--context", lab.admin_context, "--signing-key", str(signing_key)),
    )
    assert created.returncode == 0, created.stderr
    name = json.loads(created.stdout)["name"]

    def verify(key: Path) -> subprocess.CompletedProcess[str]:
        return backup_cli(lab, "verify", name, "--store", str(store), "--verify-key", str(key))

    assert verify(public_key).returncode == 0, verify(public_key).stderr
    # The signing key's public half is used when no public key is given.
    by_signing_key = backup_cli(
        lab, "verify", name, "--store", str(store), "--signing-key", str(signing_key)
    )
    assert by_signing_key.returncode == 0, by_signing_key.stderr
    by_another = verify(other_key)
    assert by_another.returncode == 3
    assert "its catalogue entry is signed by key" in by_another.stderr

    # Whoever may write the store widens the entry's namespaces and re-hashes it.
    local = LocalStore(store)
    key = f"backups/{name}.json"
    entry = json.loads(local.get(key))
    local.put(key, json.dumps({**entry, "namespaces": ["shop", "kube-system"]}).encode())
    restored = backup_cli(
        lab,
        *("restore", name, "--store", str(store), "--verify-key", str(public_key)),
        *("--map", "shop=shop-signed", "--context", lab.admin_context),
    )
    assert restored.returncode == 3
    assert "does not match its signature" in restored.stderr
    assert not namespace_exists(lab, "shop-signed")

    # An unsigned entry is refused once a key is configured.
    unsigned = {k: v for k, v in entry.items() if k != "signature"}
    local.put(key, json.dumps(unsigned).encode())
    refused = verify(public_key)
    assert refused.returncode == 3
    assert "is not signed" in refused.stderr


def test_a_drills_backup_activities_sign_with_the_ledger_key_and_refuse_an_unsigned_entry(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drillkit.faults.backup import restore_backup, take_backup
    from drillkit.model.backups import BackupRejected

    key, _ = generate_key_pair(tmp_path / "keys" / "signing-key.pem")
    monkeypatch.delenv("DRILL_VERIFY_KEY", raising=False)
    # As `drill run --signing-key` leaves it for the run's activities.
    monkeypatch.setenv("DRILL_SIGNING_KEY", str(tmp_path / "keys" / "signing-key.pem"))
    monkeypatch.setenv("KUBECONFIG", str(lab.kubeconfig))
    monkeypatch.setenv("KUBERNETES_CONTEXT", lab.admin_context)
    monkeypatch.setenv("DRILLKIT_RUN_ID", "signed-activities")
    store = tmp_path / "store"

    taken = take_backup(["shop"], store=str(store))

    name = taken["backup"]["name"]
    local = LocalStore(store)
    entry = json.loads(local.get(f"backups/{name}.json"))
    assert entry["signature"]["key"] == key.fingerprint

    # The same entry without its signature: the restore refuses it before writing.
    unsigned = {k: v for k, v in entry.items() if k != "signature"}
    local.put(f"backups/{name}.json", json.dumps(unsigned).encode())
    with pytest.raises(BackupRejected, match="is not signed"):
        restore_backup(
            store=str(store),
            backup=name,
            kubeconfig=str(lab.kubeconfig),
            context=lab.admin_context,
            namespace_map={"shop": "shop-unsigned"},
            conflict="fail",
        )
    assert not namespace_exists(lab, "shop-unsigned")


def test_a_backup_plan_fired_with_the_ledger_key_signs_its_backups(
    lab: Lab, tmp_path: Path
) -> None:
    from drillkit.scheduling.backups import BackupPlan, take_planned_backup

    key, _ = generate_key_pair(tmp_path / "keys" / "signing-key.pem")
    plan = BackupPlan(namespaces=("shop",), store=str(tmp_path / "store"))

    taken = take_planned_backup(
        "nightly",
        plan,
        kubeconfig=lab.kubeconfig,
        context=lab.admin_context,
        signing_key=key,
    )

    entry = json.loads(LocalStore(tmp_path / "store").get(f"backups/{taken.backup.name}.json"))
    assert entry["signature"]["key"] == key.fingerprint
    assert entry["plan"] == "nightly"
