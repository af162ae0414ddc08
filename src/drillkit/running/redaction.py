"""Keeping secrets out of run records, and so out of every report, ledger entry and bundle.

Reports are evidence handed to auditors and kept for years; a token in one is a leak
that cannot be recalled. Secrets reach a run by many paths: the experiment's
``secrets`` and ``configuration`` blocks (literal or read from the environment),
drill probes (an ``Authorization`` header, a URL with a password), whatever an
activity prints or returns (a process probe echoing ``$DB_PASSWORD``), an error
message quoting a URL, and the kubeconfig's credentials. Removing the ``secrets``
block from the journal is not enough.

So the runner passes the finished record through :func:`redact_record` before
anyone writes it, with three layers:

- **by value**: :func:`collect_secrets` gathers every secret value the run could
  know (experiment secrets, secret-looking configuration keys, secret-looking keys
  of drill and experiment activities, environment variables whose names say they
  hold a secret, the credentials of the kubeconfig in use) and every occurrence of
  one, anywhere in any string, becomes ``[redacted]``;
- **by key**: in the journal, the value of any key whose name says secret
  (``password``, ``token``, ``authorization``, ``client-key-data``...) is replaced;
- **by shape**: :func:`redact_text` replaces what looks like a secret wherever it
  comes from: the password of a URL, ``Bearer``/``Basic`` credentials, PEM private
  keys, JSON Web Tokens, ``password=...`` pairs.

Everything here is pure except :func:`collect_secrets`, which reads the environment
and the kubeconfig; it is given them as arguments so tests can plant secrets.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Final, TypeVar

import yaml

REDACTED: Final = "[redacted]"

# Values shorter than this are not searched for: redacting every "1" or "yes" in a
# report would destroy it, and so short a secret protects nothing anyway.
_MINIMUM_SECRET_LENGTH: Final = 6
# Fields that identify rather than describe: a run id or a digest that happened to
# contain a short secret must stay intact, or the report would no longer match them.
_IDENTIFYING_FIELDS: Final = frozenset({"run_id", "drill", "sha256", "tool_version"})

_SECRET_KEY: Final = re.compile(
    r"pass(word|wd|phrase)?|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key"
    r"|client[-_]?key|credential|authorization|cookie|bearer|signature|session[-_]?key"
    r"|hmac|dsn|webhook|(^|[-_.])auth($|[-_.])"
    r"|client-certificate-data|certificate-authority-data",
    re.IGNORECASE,
)
_SECRET_ENVIRONMENT_NAME: Final = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CLIENT_?KEY"
    r"|CREDENTIAL|SESSION_?KEY|HMAC|DSN|WEBHOOK|(^|_)PASS(_|$)|(^|_)AUTH(_|$)|(^|_)PWD(_|$)"
    r"|(^|_)PAT(_|$)",
)
# Named like secrets, but the shell's working directories.
_NOT_SECRET_ENVIRONMENT: Final = frozenset({"PWD", "OLDPWD"})
_SHAPES: Final[Sequence[tuple[re.Pattern[str], str]]] = (
    # -----BEGIN RSA PRIVATE KEY----- ... -----END RSA PRIVATE KEY-----
    (
        re.compile(
            r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END \1PRIVATE KEY-----|\Z)", re.S
        ),
        "[redacted private key]",
    ),
    # https://user:password@host/ keeps the user and the host, which help a reader.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/:@]*):[^\s/@]+@"), rf"\1:{REDACTED}@"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), rf"\1 {REDACTED}"),
    # JSON Web Tokens (service-account tokens among them): three base64url parts.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), REDACTED),
    (
        re.compile(
            r"(?i)\b(password|passwd|pwd|secret|token|api[-_]?key|access[-_]?key)"
            r"(\"?\s*[=:]\s*\"?)(?!\[redacted)[^\s\"',;&}]+"
        ),
        rf"\1\2{REDACTED}",
    ),
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Secrets:
    """The secret values one run could know, longest first (so a longer secret that
    contains a shorter one is replaced whole)."""

    values: tuple[str, ...] = ()

    @classmethod
    def of(cls, values: Iterable[str]) -> Secrets:
        """Each value, and the forms it takes when written into other text: JSON-escaped,
        base64 (standard and URL-safe, with and without padding) and hex."""
        unique = {
            form
            for value in values
            if len(value) >= _MINIMUM_SECRET_LENGTH
            for form in _encoded_forms(value)
        }
        return cls(tuple(sorted(unique, key=lambda value: (-len(value), value))))


def _encoded_forms(value: str) -> set[str]:
    raw = value.encode("utf-8")
    standard = base64.b64encode(raw).decode("ascii")
    url_safe = base64.urlsafe_b64encode(raw).decode("ascii")
    return {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        standard,
        standard.rstrip("="),
        url_safe,
        url_safe.rstrip("="),
        raw.hex(),
        raw.hex().upper(),
    }


def collect_secrets(
    *,
    experiment: Mapping[str, Any],
    drill_document: Mapping[str, Any],
    environ: Mapping[str, str],
    kubeconfig: Path | None = None,
) -> Secrets:
    """Every secret value the run could have seen, to find and replace in its record.

    ``drill_document`` is the drill as JSON data; ``kubeconfig`` the file the run used
    (else ``$KUBECONFIG``, then ``~/.kube/config``).
    """
    values: list[str] = []
    values += _leaves(experiment.get("secrets"), environ)
    configuration = experiment.get("configuration")
    if isinstance(configuration, Mapping):
        for key, value in configuration.items():
            if _SECRET_KEY.search(str(key)):
                values += _leaves(value, environ)
    values += _values_under_secret_keys(experiment, environ)
    values += _values_under_secret_keys(drill_document, environ)
    values += collect_environment_secrets(environ, kubeconfig=kubeconfig).values
    return Secrets.of(values)


def collect_environment_secrets(
    environ: Mapping[str, str], *, kubeconfig: Path | None = None
) -> Secrets:
    """The secrets of the environment alone: variables named like secrets, and the
    credentials of the kubeconfig in use. For text that no experiment produced (a
    scheduler's reason for a skip)."""
    values = [
        value
        for name, value in environ.items()
        if _SECRET_ENVIRONMENT_NAME.search(name.upper())
        and name.upper() not in _NOT_SECRET_ENVIRONMENT
    ]
    # A list of URLs or keys in one variable (DRILL_SLACK_WEBHOOKS): each one is secret.
    values += [part for value in values for part in value.split()]
    for path in _kubeconfig_paths(kubeconfig, environ):
        values += _kubeconfig_credentials(path)
    return Secrets.of(values)


def redact_text(text: str, secrets: Secrets = Secrets()) -> str:
    """``text`` with every known secret value and every secret-shaped string replaced."""
    for value in secrets.values:
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


def redact_json(value: Any, secrets: Secrets = Secrets()) -> Any:
    """A copy of JSON-like data with secret-named keys' values and secret text replaced."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if _SECRET_KEY.search(str(key)) and not _is_empty(item)
            else redact_json(item, secrets)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_json(item, secrets) for item in value]
    if isinstance(value, str) and not isinstance(value, Enum):
        return redact_text(value, secrets)
    return value


def redact_record(record: T, secrets: Secrets) -> T:
    """A copy of a frozen dataclass record (a ``RunRecord``) with every string redacted.

    Walks the record's fields, timeline events and findings; mappings (the journal)
    also lose the values of secret-named keys. Enums, numbers and times are left alone.
    """
    redacted: T = _redact_value(record, secrets)
    return redacted


def _redact_value(value: Any, secrets: Secrets) -> Any:
    if isinstance(value, Enum):
        return value
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, Mapping):
        return redact_json(value, secrets)
    if isinstance(value, tuple):
        return tuple(_redact_value(item, secrets) for item in value)
    if isinstance(value, list):
        return [_redact_value(item, secrets) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            field.name: _redact_value(getattr(value, field.name), secrets)
            for field in dataclasses.fields(value)
            if field.init and field.name not in _IDENTIFYING_FIELDS
        }
        return dataclasses.replace(value, **changes)
    return value


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _leaves(value: Any, environ: Mapping[str, str], seen: set[int] | None = None) -> list[str]:
    """Every string a Chaos Toolkit value stands for, reading ``{type: env, key: NAME}``.

    A mapping or list reached again (YAML aliases share one object) is not walked
    again: its strings are already collected, and an alias bomb would take hours.
    """
    seen = set() if seen is None else seen
    if isinstance(value, Mapping | list | tuple):
        if id(value) in seen:
            return []
        seen.add(id(value))
    if isinstance(value, Mapping):
        if value.get("type") == "env" and isinstance(value.get("key"), str):
            resolved = environ.get(value["key"])
            default = value.get("default")
            return [text for text in (resolved, default) if isinstance(text, str)]
        return [leaf for item in value.values() for leaf in _leaves(item, environ, seen)]
    if isinstance(value, list | tuple):
        return [leaf for item in value for leaf in _leaves(item, environ, seen)]
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return [str(value)]
    return []


def _values_under_secret_keys(
    value: Any,
    environ: Mapping[str, str],
    seen: set[int] | None = None,
    leaves_seen: set[int] | None = None,
) -> list[str]:
    """Values of secret-named keys anywhere in a document: headers, arguments, settings.

    Each shared mapping or list is searched once, and its leaves collected once.
    """
    seen = set() if seen is None else seen
    leaves_seen = set() if leaves_seen is None else leaves_seen
    found: list[str] = []
    if isinstance(value, Mapping | list | tuple):
        if id(value) in seen:
            return found
        seen.add(id(value))
    if isinstance(value, Mapping):
        for key, item in value.items():
            if _SECRET_KEY.search(str(key)):
                found += _leaves(item, environ, leaves_seen)
            else:
                found += _values_under_secret_keys(item, environ, seen, leaves_seen)
    elif isinstance(value, list | tuple):
        for item in value:
            found += _values_under_secret_keys(item, environ, seen, leaves_seen)
    return found


def _kubeconfig_paths(kubeconfig: Path | None, environ: Mapping[str, str]) -> list[Path]:
    if kubeconfig is not None:
        return [kubeconfig]
    listed = environ.get("KUBECONFIG")
    if listed:
        return [Path(part) for part in listed.split(":") if part]
    home = environ.get("HOME")
    return [Path(home) / ".kube" / "config"] if home else []


def _kubeconfig_credentials(path: Path) -> list[str]:
    """The secrets of a kubeconfig: every user credential, the files they name, CA data."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    if not isinstance(document, Mapping):
        return []
    values: list[str] = []
    for user in _named_items(document.get("users"), "user"):
        values += [leaf for leaf in _leaves(user, {}) if leaf]
        for key in ("token-file", "client-key"):
            named = user.get(key)
            if isinstance(named, str):
                values += _file_text(path.parent / named)
    for cluster in _named_items(document.get("clusters"), "cluster"):
        data = cluster.get("certificate-authority-data")
        if isinstance(data, str):
            values.append(data)
    # A *-data value is base64; what it decodes to (a PEM key) is as secret.
    values += [decoded for value in values for decoded in _decoded_lines(value)]
    return values


def _named_items(items: Any, key: str) -> list[Mapping[str, Any]]:
    if not isinstance(items, list):
        return []
    return [
        item[key]
        for item in items
        if isinstance(item, Mapping) and isinstance(item.get(key), Mapping)
    ]


def _file_text(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return []
    return [text, *(line for line in text.splitlines() if "-----" not in line)]


def _decoded_lines(value: str) -> list[str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return []
    lines = [line.strip() for line in decoded.splitlines()]
    return [decoded.strip(), *(line for line in lines if line and "-----" not in line)]
