"""Plain Chaos Toolkit experiments run under ``drill run`` as they do under ``chaos run``.

Every document of ``documents/`` (each about one behaviour of Chaos Toolkit, its outcome
under ``chaos run`` stated in ``EXPECTED`` below and in its description) is run by both
commands, each in a directory of its own, with the same environment and the same extra
arguments (``ARGUMENTS``: ``--var``, ``--var-file``). The first test
checks that Chaos Toolkit does what we say it does; the second, that drill agrees: the
journal's status, deviation, the activities played and the hypothesis checks, a verdict
that ``VERDICTS`` allows for Chaos Toolkit's outcome (``docs/compatibility.md`` says
why), the exit code of that verdict, one JSON document on stdout, a report, and no
traceback.

Runs are slow (a process each, and drill's recovery wait), so every selected document
is started at once, a few at a time, when the module's first test asks; each test waits
for its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import drillkit
from drillkit.cli.running import EXIT_CODES
from tests.helpers import drill_command

COMPAT = Path(__file__).parent
DOCUMENTS = COMPAT / "documents"
VAR_FILES = COMPAT / "var-files"
CHAOS = Path(sys.executable).with_name("chaos")
# Bounds a hang only: chaos runs a document in about a second, drill in 25 s at most
# here (its recovery wait included) while the other documents run beside it.
RUN_TIMEOUT = 90.0
# Runs wait more than they compute (pauses, drill's recovery wait): more than the cores.
CONCURRENT_RUNS = 12
SECRET_TOKEN = "s3cr3t-token"

# drill's verdict for each outcome of `chaos run` (journal status, deviated). A plain
# experiment declares no objective, so no run is ever `met`: `unjudged` when a fault
# landed, `inconclusive` when none did (no method action succeeded, none disturbed the
# hypothesis). A hypothesis that did not hold or raised before the method is an `error`
# (the method never ran: nothing could be tested; BEFORE_FAILED), after it a `missed`
# like a deviation.
VERDICTS: dict[tuple[str, bool], frozenset[str]] = {
    ("completed", False): frozenset({"unjudged", "inconclusive"}),
    ("completed", True): frozenset({"missed"}),
    ("failed", False): frozenset({"error"}),
    ("failed", True): frozenset({"missed"}),
    ("interrupted", False): frozenset({"aborted"}),
    # An activity raised outside its own run (an unknown ref): the run could not proceed.
    ("aborted", False): frozenset({"error"}),
}
BEFORE_FAILED = frozenset({"error"})


@dataclass(frozen=True)
class Expected:
    """What ``chaos run`` of a document journals. ``run`` and ``rollbacks`` name the
    activities played, in order; ``name (failed)`` for one that failed, ``name (no
    status)`` for one the experiment was stopped in."""

    status: str
    deviated: bool = False
    run: tuple[str, ...] = ()
    rollbacks: tuple[str, ...] = ()
    drill_rollbacks: tuple[str, ...] | None = None
    """The rollbacks drill plays where they differ on purpose: without a runtime rollback
    strategy, drill plays them after a failure or an interruption too (a drill never
    leaves the system as a fault left it); Chaos Toolkit's default skips them."""


REFUSED = None
"""Both commands must refuse the document before running anything."""

_TOUCH = ("touch-the-service",)
_REPAIR = ("repair-the-service",)
_HARMLESS = Expected("completed", run=_TOUCH, rollbacks=_REPAIR)
_DEVIATED = Expected("completed", deviated=True, run=("break-the-service",), rollbacks=_REPAIR)

EXPECTED: dict[str, Expected | None] = {
    "action-process-fails.json": Expected(
        "completed", run=("run-false", *_TOUCH), rollbacks=_REPAIR
    ),
    "action-python-raises.json": Expected(
        "completed", run=("raise-an-error (failed)", *_TOUCH), rollbacks=_REPAIR
    ),
    "activity-prints-to-stdout.json": Expected(
        "completed", run=("say-hello", *_TOUCH), rollbacks=_REPAIR
    ),
    "background-activities.yaml": Expected(
        "completed",
        run=("work-in-the-background", *_TOUCH, "read-the-status"),
        rollbacks=_REPAIR,
    ),
    "configuration-and-secrets.json": _HARMLESS,
    "configuration-from-env-file.json": _HARMLESS,
    "configuration-from-var-file.json": _HARMLESS,
    "configuration-from-var.json": _HARMLESS,
    "control-exits.yaml": Expected("interrupted", run=_TOUCH, drill_rollbacks=_REPAIR),
    "control-interrupts-before-activity.json": Expected(
        "interrupted", run=_TOUCH, drill_rollbacks=_REPAIR
    ),
    "control-interrupts-before-method.json": Expected("interrupted", drill_rollbacks=_REPAIR),
    "exit-gracefully.json": Expected(
        "interrupted", run=("leave-gracefully (no status)",), rollbacks=_REPAIR
    ),
    "exit-ungracefully.json": Expected("interrupted", run=("leave-ungracefully (no status)",)),
    "fault-heals-itself.json": Expected(
        "completed", run=("break-the-service-briefly",), rollbacks=_REPAIR
    ),
    "http-probe.json": Expected("completed", run=("ask-the-service",), rollbacks=_REPAIR),
    "hypothesis-after-method-only.json": Expected("completed", run=_REPAIR),
    "hypothesis-before-method-only.json": Expected("completed", run=("read-the-status",)),
    "hypothesis-continuously.json": Expected("completed", run=("work-for-half-a-second",)),
    "hypothesis-probe-fails-after.json": Expected(
        "failed", deviated=True, run=("break-the-service",), drill_rollbacks=_REPAIR
    ),
    "hypothesis-probe-fails-before.json": Expected("failed", drill_rollbacks=_REPAIR),
    "method-probe-fails.json": Expected(
        "completed", run=("raise-while-probing (failed)", *_TOUCH), rollbacks=_REPAIR
    ),
    "pauses.yaml": Expected("completed", run=(*_TOUCH, "read-the-status"), rollbacks=_REPAIR),
    "ref-activities.json": Expected(
        "completed", run=(*_TOUCH, "service-is-up", *_TOUCH), rollbacks=_TOUCH
    ),
    "refused-without-method.yaml": REFUSED,
    "rollbacks-always.json": _HARMLESS,
    "rollbacks-default-with-deviation.json": _DEVIATED,
    "rollbacks-default-without-deviation.json": _HARMLESS,
    "rollbacks-deviated-with-deviation.json": _DEVIATED,
    "rollbacks-deviated-without-deviation.json": Expected("completed", run=_TOUCH),
    "rollbacks-never.json": Expected("completed", run=_TOUCH),
    "stateful-hypothesis-probe.json": Expected("completed", run=("read-the-status",)),
    "tolerance-bool.json": _HARMLESS,
    "tolerance-int.json": _HARMLESS,
    "tolerance-jsonpath.json": _HARMLESS,
    "tolerance-list.json": _HARMLESS,
    "tolerance-probe-deviates-after.json": _DEVIATED,
    "tolerance-probe.json": _HARMLESS,
    "tolerance-range-deviates-after.json": _DEVIATED,
    "tolerance-range.json": _HARMLESS,
    "tolerance-regex.json": _HARMLESS,
    # Chaos Toolkit 1.19 ends a run whose hypothesis does not hold before the method as
    # completed, not deviated, and exits 0; its default strategy then plays the rollbacks.
    "tolerance-string-deviates-before.json": Expected("completed", rollbacks=_REPAIR),
    "tolerance-string.json": _HARMLESS,
}

# What both commands are given after the document's path, for the documents that need it:
# the values their configuration and secrets expect (else their hypothesis does not hold).
ARGUMENTS: dict[str, tuple[str, ...]] = {
    "configuration-from-env-file.json": ("--var-file", str(VAR_FILES / "greeting.env")),
    "configuration-from-var-file.json": (
        "--var-file",
        str(VAR_FILES / "greeting.json"),
        # Given after the file and over it, as chaos run merges them.
        "--var",
        "greeting=hello",
    ),
    "configuration-from-var.json": ("--var", "greeting=hello", "--var", "expected_replicas:int=3"),
}


# -- what a run left --------------------------------------------------------------------


@dataclass(frozen=True)
class JournalSummary:
    """The parts of a Chaos Toolkit journal both commands must agree on."""

    status: str | None
    deviated: bool
    run: tuple[str, ...]
    rollbacks: tuple[str, ...]
    hypothesis: tuple[str, ...]
    """When the steady-state hypothesis was checked, and whether it held."""


def summarise_journal(journal: Mapping[str, Any]) -> JournalSummary:
    def played(runs: list[Mapping[str, Any]] | None) -> tuple[str, ...]:
        named = []
        for run in runs or []:
            name = run["activity"].get("name", "?")
            status = run.get("status")
            named.append(name if status == "succeeded" else f"{name} ({status or 'no status'})")
        return tuple(named)

    def held(state: Mapping[str, Any]) -> str:
        return "held" if state.get("steady_state_met") else "did not hold"

    states = journal.get("steady_states") or {}
    checks = []
    if states.get("before"):
        checks.append(f"before the method: {held(states['before'])}")
    if states.get("during"):
        checks.append("during the method")
    if states.get("after"):
        checks.append(f"after the method: {held(states['after'])}")
    return JournalSummary(
        status=journal.get("status"),
        deviated=bool(journal.get("deviated")),
        run=played(journal.get("run")),
        rollbacks=played(journal.get("rollbacks")),
        hypothesis=tuple(checks),
    )


@dataclass(frozen=True)
class CommandRun:
    directory: Path
    returncode: int | None
    """None when the command did not finish within ``RUN_TIMEOUT``."""
    stdout: str
    stderr: str
    seconds: float


@dataclass(frozen=True)
class DocumentRuns:
    chaos: CommandRun
    drill: CommandRun

    def chaos_journal(self) -> dict[str, Any] | None:
        path = self.chaos.directory / "chaos.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def drill_run_directories(self) -> list[Path]:
        """The run directories drill began (``reports/<drill>/<run id>/``), complete or not."""
        return sorted(p for p in (self.drill.directory / "reports").glob("*/*") if p.is_dir())


def run_command(command: list[str], directory: Path, environment: Mapping[str, str]) -> CommandRun:
    directory.mkdir(parents=True)
    state = directory / "state"
    state.mkdir()
    env = dict(environment, COMPAT_STATE_DIR=str(state))
    # No cluster is involved: make sure none is picked up from the developer's setup.
    env["KUBECONFIG"] = str(directory / "no-kubeconfig")
    env["DRILLKIT_HOME"] = str(directory / "drillkit-home")
    started = time.monotonic()
    try:
        finished = subprocess.run(
            command,
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        return CommandRun(
            directory, None, _text(expired.stdout), _text(expired.stderr), RUN_TIMEOUT
        )
    return CommandRun(
        directory,
        finished.returncode,
        finished.stdout,
        finished.stderr,
        time.monotonic() - started,
    )


def _text(output: bytes | str | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def run_both(
    document: Path,
    directory: Path,
    environment: Mapping[str, str],
    arguments: tuple[str, ...] = (),
) -> DocumentRuns:
    """``chaos run`` then ``drill run`` of ``document``, each in a directory of its own,
    both given ``arguments``."""
    chaos = run_command(
        [
            str(CHAOS),
            # Loopback only: no version check, and no settings file (so no notifications).
            "--no-version-check",
            "--no-log-file",
            "--settings",
            str(directory / "chaos-settings.yaml"),
            "run",
            "--journal-path",
            str(directory / "chaos" / "chaos.json"),
            *arguments,
            str(document),
        ],
        directory / "chaos",
        environment,
    )
    drill = run_command(
        drill_command(
            "run",
            str(document),
            "--output",
            "json",
            "--reports-dir",
            str(directory / "drill" / "reports"),
            *arguments,
        ),
        directory / "drill",
        environment,
    )
    return DocumentRuns(chaos=chaos, drill=drill)


# -- fixtures ---------------------------------------------------------------------------


class _ServiceHandler(BaseHTTPRequestHandler):
    """A service on loopback for the HTTP document: GET /health and POST /work answer 200."""

    def do_GET(self) -> None:
        self._answer(200 if self.path == "/health" else 404)

    def do_POST(self) -> None:
        self._answer(200 if self.path == "/work" else 404)

    def _answer(self, status: int) -> None:
        body = b'{"status": "up"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def service_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ServiceHandler)
    thread = threading.Thread(target=server.serve_forever, name="compat-service", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def environment(service_url: str) -> dict[str, str]:
    """The environment of both commands: the documents' activities importable, the
    configuration and secrets they read, and nothing that could send traffic off the
    machine (a proxy, an in-cluster API server)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.lower().endswith("_proxy") and not name.startswith("KUBERNETES_")
    }
    # The drillkit under test (this worktree's, as imported here), not an installed one.
    source = Path(drillkit.__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(COMPAT), str(source), os.environ.get("PYTHONPATH")) if p
    )
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env["COMPAT_GREETING"] = "hello"
    env["COMPAT_TOKEN"] = SECRET_TOKEN
    env["COMPAT_PAUSE"] = "0.1"
    env["COMPAT_SERVICE_URL"] = service_url
    return env


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, service_url: str
) -> Iterator[dict[str, Future[DocumentRuns]]]:
    """Every document the session's tests of this module ask for, started at once."""
    wanted = sorted(
        {
            str(item.callspec.params["document"])
            for item in request.session.items
            if isinstance(item, pytest.Function)
            and item.module is sys.modules[__name__]
            and hasattr(item, "callspec")
            and "document" in item.callspec.params
        }
    )
    env = environment(service_url)
    root = tmp_path_factory.mktemp("compat")
    with ThreadPoolExecutor(
        max_workers=CONCURRENT_RUNS, thread_name_prefix="compat-run"
    ) as documents:
        futures = {
            name: documents.submit(
                run_both,
                DOCUMENTS / name,
                root / Path(name).stem,
                env,
                ARGUMENTS.get(name, ()),
            )
            for name in wanted
        }
        yield futures
        for future in futures.values():
            future.cancel()


# -- the tests --------------------------------------------------------------------------


def test_every_document_states_its_expected_outcome() -> None:
    assert sorted(p.name for p in DOCUMENTS.iterdir()) == sorted(EXPECTED)
    assert set(ARGUMENTS) <= set(EXPECTED)


@pytest.mark.parametrize("document", sorted(EXPECTED))
def test_chaos_toolkit_runs_the_document_as_expected(
    document: str, runs: dict[str, Future[DocumentRuns]]
) -> None:
    outcome = runs[document].result()
    chaos = outcome.chaos
    expected = EXPECTED[document]
    assert chaos.returncode is not None, f"chaos did not finish:\n{chaos.stderr}"
    journal = outcome.chaos_journal()
    if expected is REFUSED:
        assert chaos.returncode != 0
        assert journal is None
        return
    assert journal is not None, chaos.stderr
    summary = summarise_journal(journal)
    assert (summary.status, summary.deviated) == (expected.status, expected.deviated)
    assert summary.run == expected.run
    assert summary.rollbacks == expected.rollbacks
    # chaos exits 0 exactly when the experiment completed without deviating.
    succeeded = summary.status == "completed" and not summary.deviated
    assert chaos.returncode == (0 if succeeded else 1)


@pytest.mark.parametrize("document", sorted(EXPECTED))
def test_drill_runs_the_document_as_chaos_toolkit_does(
    document: str, runs: dict[str, Future[DocumentRuns]]
) -> None:
    outcome = runs[document].result()
    differences = compare(outcome, EXPECTED[document])
    assert not differences, "drill differs from chaos:\n- " + "\n- ".join(differences)


def compare(outcome: DocumentRuns, expected: Expected | None) -> list[str]:
    """How drill's run of a document differs from chaos's, in words, but for the
    differences ``expected`` states; empty if it does not."""
    refused = expected is REFUSED
    drill = outcome.drill
    if drill.returncode is None:
        return [
            f"drill did not finish within {RUN_TIMEOUT:.0f} s; its stderr ends:\n{drill.stderr}"
        ]
    differences = []
    if "Traceback" in drill.stderr:
        differences.append(f"drill's stderr has a traceback:\n{drill.stderr[-3000:]}")
    run_directories = outcome.drill_run_directories()
    if refused:
        if drill.returncode == 0:
            differences.append("drill ran a document chaos refuses")
        if run_directories:
            differences.append(f"drill began a run of a document chaos refuses: {run_directories}")
        return differences

    summary = _one_json_document(drill.stdout)
    if summary is None:
        differences.append(f"drill's stdout is not one JSON document:\n{drill.stdout or '(empty)'}")
    # manifest.json is written last: its presence marks a report complete.
    if len(run_directories) != 1 or not (run_directories[0] / "manifest.json").is_file():
        differences.append(f"drill did not write one complete report: {run_directories}")
        return differences
    report_dir = run_directories[0]
    if summary is not None and Path(summary["report_dir"]) != report_dir:
        differences.append(f"drill's JSON names {summary['report_dir']}, not {report_dir}")

    chaos_journal = outcome.chaos_journal()
    assert chaos_journal is not None, outcome.chaos.stderr
    chaos = summarise_journal(chaos_journal)
    drilled = summarise_journal(json.loads((report_dir / "journal.json").read_text()))
    assert expected is not None
    for name in ("status", "deviated", "run", "rollbacks", "hypothesis"):
        theirs, ours = getattr(chaos, name), getattr(drilled, name)
        if name == "rollbacks" and expected.drill_rollbacks is not None:
            theirs = expected.drill_rollbacks
        if theirs != ours:
            differences.append(f"journal {name}: chaos {theirs!r}, drill {ours!r}")

    verdict = json.loads((report_dir / "report.json").read_text())["verdict"]
    before_failed = any(
        check.startswith("before the method: did not hold") for check in chaos.hypothesis
    )
    allowed = (
        BEFORE_FAILED
        if before_failed
        else VERDICTS.get((chaos.status or "", chaos.deviated), frozenset())
    )
    if verdict not in allowed:
        differences.append(
            f"verdict {verdict!r}, where chaos's {chaos.status}"
            f"{' and deviated' if chaos.deviated else ''} allows {sorted(allowed)}"
        )
    if drill.returncode != EXIT_CODES[verdict]:
        differences.append(
            f"drill exited {drill.returncode}, not {EXIT_CODES[verdict]} for {verdict!r}"
        )
    return differences


def _one_json_document(text: str) -> dict[str, Any] | None:
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None
