"""No token, password, client key or kubeconfig content in any report, ledger entry or bundle.

The end-to-end test plants secrets everywhere a user could put them (the experiment's
configuration and secrets, drill probes, the environment, the kubeconfig), has
activities print, return and fail with them, runs the drill for real with ``drill
run`` (no cluster needed: the experiment runs local processes), records a skip,
exports a bundle, and then searches every byte that was written.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from drillkit.cli.main import cli
from drillkit.evidence.ledger import append_skip, witness_path
from drillkit.running.redaction import (
    REDACTED,
    Secrets,
    collect_secrets,
    redact_json,
    redact_record,
    redact_text,
)
from tests.helpers import drill_command
from tests.reporting.conftest import UTC_ORIGIN, make_record

LITERAL_CONFIG_TOKEN = "cfg-token-5b1e0c7d"
ENV_PASSWORD = "env-password-9d2f41"
VAULT_TOKEN = "vault-token-c3a8e2"
DATABASE_PASSWORD = "db-pass-0a7c55e1"
URL_PASSWORD = "url-pass-64e1d0"
HEADER_TOKEN = "header-token-2f9b8a"
KUBE_TOKEN = "kube-token-1c5d9e3f"
SKIP_TOKEN = "skip-token-77ab01"

EXPERIMENT = """\
title: "Checkout survives ${api_token}"
description: An experiment that leaks every secret it can reach.
configuration:
  api_token: "%(literal)s"
  service_password:
    type: env
    key: PLANTED_PASSWORD
secrets:
  vault:
    token:
      type: env
      key: PLANTED_VAULT_TOKEN
steady-state-hypothesis:
  title: the shell answers
  probes:
    - type: probe
      name: echo-secrets
      tolerance: 0
      provider:
        type: process
        path: /bin/sh
        arguments: ["-c", "echo ok ${api_token} $PLANTED_PASSWORD $DATABASE_PASSWORD"]
method:
  - type: action
    name: fail-loudly
    provider:
      type: process
      path: /bin/sh
      arguments: ["-c", "echo $PLANTED_VAULT_TOKEN ${service_password} >&2; exit 3"]
  - type: action
    name: return-a-secret
    provider:
      type: python
      module: os
      func: getenv
      arguments: {key: DATABASE_PASSWORD}
"""

DRILL = """\
name: leaky
description: Planted secrets must not reach the evidence.
experiment: experiment.yaml
target:
  namespaces: [shop]
objectives: {rto: 30s, stable_for: 200ms, timeout: 1s}
recovery:
  poll_interval: 200ms
  probes:
    - type: probe
      name: health-with-credentials
      tolerance: 200
      provider:
        type: http
        url: "http://checker:%(url_password)s@127.0.0.1:9/health"
        headers: {Authorization: "Bearer %(header_token)s"}
        timeout: 1
evidence: {owner: payments, approver: head-of-sre, controls: [SOC2-A1.3]}
"""


def client_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def write_kubeconfig(path: Path, client_key: str) -> None:
    client_key_data = base64.b64encode(client_key.encode()).decode()
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        f"users: [{{name: u, user: {{token: {KUBE_TOKEN}, client-key-data: {client_key_data}}}}}]\n"
        "contexts: [{name: ctx, context: {cluster: c, user: u}}]\n"
        "current-context: ctx\n"
    )


def everything_written(reports_dir: Path, bundle: Path) -> dict[str, bytes]:
    written = {str(path): path.read_bytes() for path in reports_dir.rglob("*") if path.is_file()}
    written["witness"] = witness_path(reports_dir).read_bytes()
    with zipfile.ZipFile(bundle) as archive:
        for name in archive.namelist():
            written[f"{bundle.name}:{name}"] = archive.read(name)
    return written


def test_planted_secrets_reach_no_report_ledger_entry_or_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_key = client_key_pem()
    (tmp_path / "experiment.yaml").write_text(EXPERIMENT % {"literal": LITERAL_CONFIG_TOKEN})
    (tmp_path / "leaky.yaml").write_text(
        DRILL % {"url_password": URL_PASSWORD, "header_token": HEADER_TOKEN}
    )
    write_kubeconfig(tmp_path / "kubeconfig", client_key)
    monkeypatch.setenv("PLANTED_PASSWORD", ENV_PASSWORD)
    monkeypatch.setenv("PLANTED_VAULT_TOKEN", VAULT_TOKEN)
    monkeypatch.setenv("DATABASE_PASSWORD", DATABASE_PASSWORD)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    monkeypatch.setenv("DRILL_OPERATOR", "alice@example.com")
    reports = tmp_path / "reports"
    bundle = tmp_path / "bundle.zip"

    ran = CliRunner().invoke(
        cli, ["run", str(tmp_path / "leaky.yaml"), "--reports-dir", str(reports)]
    )
    append_skip(
        reports,
        drill="leaky",
        reason=f"gate failed: https://sre:{URL_PASSWORD}@prom/api said token={SKIP_TOKEN}",
        scheduled_for=UTC_ORIGIN,
    )
    exported = CliRunner().invoke(
        cli,
        [
            "evidence",
            "export",
            "--reports-dir",
            str(reports),
            "--from",
            "2000-01-01",
            "--to",
            "2100-01-01",
            "--output-file",
            str(bundle),
        ],
    )

    assert ran.exception is None or isinstance(ran.exception, SystemExit), ran.output
    assert exported.exit_code == 0, exported.output
    written = everything_written(reports, bundle)
    assert any(name.endswith("journal.json") for name in written)
    assert any(name.endswith(":index.csv") for name in written)
    secrets = [
        LITERAL_CONFIG_TOKEN,
        ENV_PASSWORD,
        VAULT_TOKEN,
        DATABASE_PASSWORD,
        URL_PASSWORD,
        HEADER_TOKEN,
        KUBE_TOKEN,
        SKIP_TOKEN,
        base64.b64encode(client_key.encode()).decode(),
        *[line for line in client_key.splitlines() if "-----" not in line],
    ]
    leaks = [
        (name, secret)
        for name, data in written.items()
        for secret in secrets
        if secret.encode() in data
    ]
    assert leaks == []
    # The activities did see the secrets: the journal says so, redacted.
    journal = next(data for name, data in written.items() if name.endswith("/journal.json"))
    assert REDACTED.encode() in journal


def test_known_values_are_replaced_wherever_they_appear() -> None:
    secrets = Secrets.of(["s3cr3t-value", "short"])

    assert redact_text("got s3cr3t-value back", secrets) == f"got {REDACTED} back"
    # Too short to search for without destroying ordinary text.
    assert redact_text("short", secrets) == "short"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET https://user:pa55w0rd@host/x", f"GET https://user:{REDACTED}@host/x"),
        ("Authorization: Bearer abcdef123456", f"Authorization: Bearer {REDACTED}"),
        ("password=hunter2 next", f"password={REDACTED} next"),
        ('{"token": "abc123"}', f'{{"token": "{REDACTED}"}}'),
        ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLXBhcnQ", REDACTED),
        (
            "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----",
            "[redacted private key]",
        ),
        ("RTO 20 s met the 30 s objective", "RTO 20 s met the 30 s objective"),
    ],
)
def test_secret_shapes_are_replaced_without_knowing_the_value(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_secret_named_keys_lose_their_values_in_json() -> None:
    data = {"configuration": {"api_key": "x" * 10, "url": "https://h/"}, "list": [{"password": 1}]}

    assert redact_json(data) == {
        "configuration": {"api_key": REDACTED, "url": "https://h/"},
        "list": [{"password": REDACTED}],
    }


def test_secrets_are_collected_from_every_source(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(
        kubeconfig, "-----BEGIN PRIVATE KEY-----\nQUJDREVGR0hJSg==\n-----END PRIVATE KEY-----\n"
    )
    experiment = {
        "configuration": {"api_token": "literal-token", "region": "eu-west-1"},
        "secrets": {"vault": {"role": {"type": "env", "key": "ROLE_ID"}}},
        "method": [{"provider": {"headers": {"X-Api-Key": "header-key-1"}}}],
    }
    drill = {"recovery": {"probes": [{"provider": {"arguments": {"password": "probe-pass"}}}]}}
    environ = {"ROLE_ID": "role-id-value", "GITHUB_TOKEN": "ghp-token-value", "HOME": "/nowhere"}

    secrets = collect_secrets(
        experiment=experiment, drill_document=drill, environ=environ, kubeconfig=kubeconfig
    )

    for value in (
        "literal-token",
        "role-id-value",
        "header-key-1",
        "probe-pass",
        "ghp-token-value",
        KUBE_TOKEN,
        "QUJDREVGR0hJSg==",
    ):
        assert value in secrets.values
    assert "eu-west-1" not in secrets.values
    assert "/nowhere" not in secrets.values


def test_a_record_is_redacted_everywhere_but_its_identifiers() -> None:
    record = make_record("met", description="calls https://u:topsecret1@api/ daily")

    redacted = redact_record(record, Secrets.of(["alice@example.com"]))

    assert redacted.description == f"calls https://u:{REDACTED}@api/ daily"
    assert redacted.accountability.operator == REDACTED
    assert redacted.run_id == record.run_id
    assert redacted.timeline == record.timeline
    assert redacted.outcome == record.outcome


@pytest.mark.parametrize("key", ["db_pwd", "auth", "dsn", "hmac_key"])
def test_configuration_keys_named_like_secrets_are_collected(key: str) -> None:
    experiment = {"configuration": {key: "config-value-4c1d9e"}}
    secrets = collect_secrets(experiment=experiment, drill_document={}, environ={})
    assert "config-value-4c1d9e" in secrets.values


@pytest.mark.parametrize("name", ["MYSQL_PWD", "GITHUB_PAT", "DRILL_SLACK_WEBHOOKS"])
def test_environment_variables_named_like_secrets_are_collected(name: str) -> None:
    secrets = collect_secrets(
        experiment={}, drill_document={}, environ={name: "environment-value-7b3e2a"}
    )
    assert "environment-value-7b3e2a" in secrets.values


def test_the_working_directory_is_not_a_secret() -> None:
    environ = {"PWD": "/home/someone/drills", "OLDPWD": "/home/someone"}
    secrets = collect_secrets(experiment={}, drill_document={}, environ=environ)
    assert secrets.values == ()


def test_each_of_several_slack_webhooks_is_a_secret() -> None:
    first = "https://hooks.slack.com/services/T0001/B0001/first0webhook0secret"
    second = "https://hooks.slack.com/services/T0002/B0002/second0webhook0secret"
    secrets = collect_secrets(
        experiment={}, drill_document={}, environ={"DRILL_SLACK_WEBHOOKS": f"{first} {second}"}
    )
    assert redact_text(f"posted to {second}", secrets) == f"posted to {REDACTED}"


KNOWN = 'pa"ss\\wörd-91c2/+?'


@pytest.mark.parametrize(
    "written",
    [
        pytest.param(json.dumps({"value": KNOWN}), id="json-escaped"),
        pytest.param(json.dumps({"value": KNOWN}, ensure_ascii=False), id="json-escaped-utf8"),
        pytest.param(base64.b64encode(KNOWN.encode()).decode(), id="base64"),
        pytest.param(base64.urlsafe_b64encode(KNOWN.encode()).decode(), id="base64url"),
        pytest.param(base64.b64encode(KNOWN.encode()).decode().rstrip("="), id="base64-unpadded"),
        pytest.param(KNOWN.encode().hex(), id="hex"),
        pytest.param(KNOWN.encode().hex().upper(), id="hex-upper"),
    ],
)
def test_encoded_forms_of_a_known_secret_are_replaced(written: str) -> None:
    redacted = redact_text(f"the probe printed {written} and stopped", Secrets.of([KNOWN]))
    assert REDACTED in redacted
    assert written.strip('{}"value: ') not in redacted


PROGRESS_TOKEN = "progress-token-3e8f1a"

LEAKY_ACTIVITY = """\
title: an action fails with a secret in its error
description: The live progress must not print it.
configuration:
  api_token: "%(token)s"
steady-state-hypothesis:
  title: true holds
  probes:
    - {type: probe, name: truth, tolerance: 0, provider: {type: process, path: "true"}}
method:
  - type: action
    name: fail-with-the-token
    provider:
      type: python
      module: os
      func: remove
      arguments: {path: "/nonexistent/${api_token}"}
"""


def test_the_live_progress_on_stderr_redacts_a_secret_in_an_activity_error(
    tmp_path: Path,
) -> None:
    experiment = tmp_path / "leaky-progress.yaml"
    experiment.write_text(LEAKY_ACTIVITY % {"token": PROGRESS_TOKEN})
    result = subprocess.run(
        [
            *drill_command("run", str(experiment)),
            *("--reports-dir", str(tmp_path / "reports")),
        ],
        env=dict(os.environ, KUBECONFIG=str(tmp_path / "no-kubeconfig")),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert "fail-with-the-token failed" in result.stderr, result.stderr
    assert PROGRESS_TOKEN not in result.stderr
    assert REDACTED in result.stderr
