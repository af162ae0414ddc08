"""Options shared by several commands, and the functions that read what they give.

Command modules take the options they share from here, never from each other (an
import-linter contract keeps the command modules independent).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from drillkit.evidence.sources import EvidenceSource
    from drillkit.evidence.store import EvidenceStore
    from drillkit.signing import SigningKey

F = TypeVar("F", bound=Callable[..., Any])


def directory_option(name: str, *, default: str, envvar: str, help: str) -> Callable[[F], F]:
    """A directory option with a default shown in ``--help`` and an environment variable."""
    return click.option(
        name,
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(default),
        show_default=True,
        envvar=envvar,
        help=help,
    )


def file_option(*declarations: str, **settings: Any) -> Callable[[F], F]:
    """An option that names a file the command reads (never a directory), given to the
    command as a ``Path``; ``settings`` are click's (default, required, envvar, help...).
    A file the command writes is ``output_file_option``'s."""
    return click.option(*declarations, type=click.Path(dir_okay=False, path_type=Path), **settings)


def output_file_option(**settings: Any) -> Callable[[F], F]:
    """``--output-file FILE``: the one name of every file a command writes (a bundle, a
    PDF, a page, manifests), given as a ``Path``. It is never ``-o``, which is the format
    of what is printed (``output_option``). Its type is marked writable, which is how the
    CLI's convention test tells it from the files a command reads."""
    return click.option(
        "--output-file",
        type=click.Path(dir_okay=False, readable=False, writable=True, path_type=Path),
        metavar="FILE",
        **settings,
    )


drills_dir_option = directory_option(
    "--drills-dir",
    default="drills",
    envvar="DRILL_DRILLS_DIR",
    help="Where drills are found by name.",
)
services_dir_option = directory_option(
    "--services-dir",
    default="services",
    envvar="DRILL_SERVICES_DIR",
    help="Where service files are (services/NAME.yaml).",
)
gamedays_dir_option = directory_option(
    "--gamedays-dir",
    default="gamedays",
    envvar="DRILL_GAMEDAYS_DIR",
    help="Where game days are found by name.",
)
reports_dir_option = directory_option(
    "--reports-dir",
    default="reports",
    envvar="DRILL_REPORTS_DIR",
    help="Where run reports are written: <dir>/<drill>/<run-id>/.",
)
kubeconfig_option = file_option(
    "--kubeconfig",
    default=None,
    help="Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).",
)
signing_key_option = file_option(
    "--signing-key",
    default=None,
    envvar="DRILL_SIGNING_KEY",
    help="Ed25519 private key (PEM) that signs ledger entries, bundles and backup catalogue "
    "entries [env: DRILL_SIGNING_KEY]. Create one with: drill evidence keygen.",
)


def context_option(default: str = "the current one") -> Callable[[F], F]:
    """``--context``; ``default`` says in words which context is used without it."""
    return click.option("--context", default=None, help=f"Kubeconfig context (default: {default}).")


def output_option(json_gives: str, *, native: str = "text") -> Callable[[F], F]:
    """``-o/--output text|json``, the format of what the command prints on stdout (never a
    file: that is ``--output-file``); ``json_gives`` says what the JSON output holds.

    ``native`` is the format printed without ``-o``: ``text`` for people, or ``yaml`` for
    a command whose own output is YAML manifests (``drill schedule export``). The JSON
    documents' shapes are ``cli/documents.py``'s, their schemas in ``schemas/cli/``.
    """
    return click.option(
        "-o",
        "--output",
        type=click.Choice([native, "json"]),
        default=native,
        show_default=True,
        help=f"json: {json_gives}",
    )


def load_signing_key_option(path: Path | None) -> SigningKey | None:
    """The signing key named by ``--signing-key``/``DRILL_SIGNING_KEY``; commands that
    change something read it before their first change, so a broken key stops them
    before anything is touched."""
    from drillkit.signing import signing_key_at

    return signing_key_at(path)


def parse_moment(text: str) -> datetime | date:
    """A day (2025-03-31) or an RFC 3339 time with its zone (2025-03-31T12:00:00Z), in UTC."""
    from drillkit.errors import InvalidInput

    text = text.strip()
    not_a_moment = f"{text!r} is not a date (2025-03-31) or a UTC time (2025-03-31T12:00:00Z)"
    if len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise InvalidInput(not_a_moment) from None
    return parse_zoned_time(
        text,
        not_a_time=not_a_moment,
        no_zone=f"{text!r} has no time zone; end it with Z for UTC",
    )


def parse_zoned_time(text: str, *, not_a_time: str, no_zone: str) -> datetime:
    """An ISO 8601 time that names its zone (Z or an offset), in UTC.

    ``not_a_time`` and ``no_zone`` are the messages, in the words of the option given,
    for text that is not a time and for a time without a zone: a time without one would
    be read in this machine's zone, which a schedule or an audit period must not depend on.
    """
    from drillkit.errors import InvalidInput

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(not_a_time) from None
    if moment.tzinfo is None:
        raise InvalidInput(no_zone)
    return moment.astimezone(UTC)


def start_of(moment: datetime | date) -> datetime:
    """When a moment begins: a day at its midnight UTC, a time as it is."""
    if isinstance(moment, datetime):
        return moment
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def moment_callback(
    context: click.Context, parameter: click.Parameter, value: str | None
) -> datetime | date | None:
    """Click callback that reads a day or a UTC time with ``parse_moment``, as a usage error
    naming the option when it is neither."""
    from drillkit.errors import InvalidInput

    try:
        return None if value is None else parse_moment(value)
    except InvalidInput as error:
        raise click.BadParameter(str(error), context, parameter) from error


junit_option = click.option(
    "--junit",
    type=click.Path(dir_okay=False, readable=False, writable=True, path_type=Path),
    default=None,
    metavar="FILE",
    help="Also write a JUnit XML file for CI: a case per objective and steady-state probe "
    "(written whatever the verdict).",
)
webhook_option = click.option(
    "--webhook",
    "webhooks",
    multiple=True,
    metavar="URL",
    help="POST the verdict, with RTO and RPO, as JSON to URL (repeatable); a failed "
    "delivery is a warning and changes no exit code.",
)


def _evidence_callback(
    context: click.Context, parameter: click.Parameter, value: str | None
) -> str | None:
    # Checked before anything runs: a mistyped store must not surface after a drill.
    if value is None or value == "":
        return None
    bucket = value.removeprefix("s3://").split("/", 1)[0]
    if not value.startswith("s3://") or not bucket:
        raise click.BadParameter(
            f"{value!r} is not an evidence store; expected s3://bucket/prefix", context, parameter
        )
    return value


evidence_option = click.option(
    "--evidence",
    metavar="s3://BUCKET/PREFIX",
    default=None,
    envvar="DRILL_EVIDENCE",
    callback=_evidence_callback,
    help="The fleet's evidence store, a bucket with S3 Object Lock [env: DRILL_EVIDENCE] "
    "(endpoint from $DRILLKIT_S3_ENDPOINT, credentials from boto3's chain). Default: the "
    "local reports directory only.",
)


def retention_options(function: F) -> F:
    """``--retention-mode`` and ``--retention-days``: how each object written to the
    evidence store is locked."""
    function = click.option(
        "--retention-days",
        type=click.IntRange(min=1),
        default=366,
        show_default=True,
        envvar="DRILL_EVIDENCE_RETENTION_DAYS",
        help="Days each entry and report file in the evidence store stays locked "
        "[env: DRILL_EVIDENCE_RETENTION_DAYS].",
    )(function)
    return click.option(
        "--retention-mode",
        type=click.Choice(["governance", "compliance"]),
        default="governance",
        show_default=True,
        envvar="DRILL_EVIDENCE_RETENTION_MODE",
        help="Object Lock mode in the evidence store: compliance (no one can delete before "
        "the days end, not even root) or governance (users with "
        "s3:BypassGovernanceRetention can) [env: DRILL_EVIDENCE_RETENTION_MODE].",
    )(function)


def open_evidence_store(url: str, *, mode: str = "governance", days: int = 366) -> EvidenceStore:
    """The evidence store ``--evidence`` names, locking what it writes as asked."""
    from drillkit.drivers.objectstore import Retention, RetentionMode
    from drillkit.evidence.store import EvidenceStore

    return EvidenceStore(url, retention=Retention(mode=RetentionMode(mode.upper()), days=days))


def open_evidence_source(reports_dir: Path, evidence: str | None) -> EvidenceSource:
    """Where the evidence is read from: the store ``--evidence`` names, else the local
    reports directory. The one place that chooses; commands read either alike."""
    if evidence is None:
        from drillkit.evidence.sources import LocalEvidence

        return LocalEvidence(reports_dir)
    from drillkit.evidence.store import StoreEvidence

    return StoreEvidence(open_evidence_store(evidence))
