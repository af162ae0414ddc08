"""What the commands that run drills share: the drill a NAME|PATH names, stopping on
SIGTERM as on Ctrl-C, the exit code of each verdict, what ``--junit`` and
``--webhook`` make of a verdict, and entering what a run appended to the local ledger
in the evidence store (``--evidence``).

``drill run``, ``drill show``, ``drill validate``, ``drill gameday run`` and ``drill schedule
fire`` use it; the running itself happens in the layers below (``running``, ``scheduling``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drillkit.model.drill import Drill
    from drillkit.reporting.junit import JUnitSuite
    from drillkit.running.chaostoolkit import ExperimentVars
    from drillkit.scheduling.notifications import FireEvent
    from drillkit.signing import SigningKey

# Exit codes by verdict (drill runs), game-day verdict and backup outcome ("taken").
EXIT_CODES = {
    "met": 0,
    "taken": 0,
    "missed": 1,
    "inconclusive": 1,
    "aborted": 1,
    "unjudged": 1,
    "incomplete": 1,
    "error": 3,
}


def resolve_drill(
    name_or_path: str,
    drills_dir: Path,
    namespaces: tuple[str, ...] = (),
    experiment_vars: ExperimentVars | None = None,
) -> Drill:
    """A drill by name (drills/NAME.yaml), a drill file, or a plain experiment file, which
    targets ``namespaces`` when given, else those its faults name (with the configuration
    ``experiment_vars`` give it)."""
    from drillkit.errors import InvalidInput
    from drillkit.running.proving import load_drill

    path = Path(name_or_path)
    if not path.is_file():
        candidates = [drills_dir / f"{name_or_path}.yaml", drills_dir / f"{name_or_path}.yml"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise InvalidInput(
                f"no drill named {name_or_path!r}: neither a file nor {candidates[0]}; "
                f"list drills with: drill list"
            )
        path = found
    if is_experiment_file(path):
        return _drill_for_experiment(path, namespaces, experiment_vars)
    if namespaces:
        raise InvalidInput(
            f"{path}: --namespace is for a plain experiment; a drill file declares "
            "target.namespaces"
        )
    return load_drill(path)


def _drill_for_experiment(
    path: Path, namespaces: tuple[str, ...], experiment_vars: ExperimentVars | None
) -> Drill:
    """The drill around a plain experiment: it targets the namespaces its faults name, or
    those given with --namespace; guardrails still refuse protected ones."""
    from pydantic import ValidationError

    from drillkit.errors import InvalidInput
    from drillkit.model.activities import parse_activities
    from drillkit.model.drill import default_drill_for_experiment
    from drillkit.running.activities import disruptions
    from drillkit.running.chaostoolkit import ExperimentVars, load_experiment
    from drillkit.safety.guardrails import namespaces_named

    if not namespaces:
        experiment = (experiment_vars or ExperimentVars()).applied_to(load_experiment(path))
        method = disruptions(parse_activities(experiment))
        namespaces = namespaces_named(method) or ("default",)
    try:
        return default_drill_for_experiment(path, namespaces)
    except ValidationError as error:
        problem = error.errors()[0]
        raise InvalidInput(
            f"{path}: namespace {problem['input']!r} is not a valid namespace name: "
            f"{problem['msg']}"
        ) from None


def is_experiment_file(path: Path) -> bool:
    """A Chaos Toolkit experiment rather than a drill file, by what it holds: an
    experiment has a title, a method or a hypothesis; a drill file has a name and an
    experiment. A file that does not parse is an experiment if it ends in ``.json``."""
    import yaml

    try:
        document = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return path.suffix == ".json"
    if not isinstance(document, dict) or "experiment" in document or "name" in document:
        return False
    return bool(_EXPERIMENT_KEYS & document.keys())


# Keys only a Chaos Toolkit experiment has at its top (title is required there).
_EXPERIMENT_KEYS = frozenset({"title", "method", "steady-state-hypothesis", "rollbacks"})


@contextmanager
def stopping_on_sigterm() -> Iterator[None]:
    """SIGTERM (a scheduler stopping, a pod deleted) stops what runs inside as Ctrl-C
    would: a running drill rolls back and reports, a game day records the steps left."""
    previous_handler = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_handler)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def waiter(event: threading.Event) -> Callable[[float], None]:
    """Waits that Ctrl-C or SIGTERM can interrupt (a game day's pauses)."""

    def wait(seconds: float) -> None:
        event.wait(seconds)

    return wait


def write_junit_file(path: Path, suites: Sequence[JUnitSuite], *, name: str) -> None:
    """Write ``--junit FILE``; a file that cannot be written is a warning on stderr: the
    report is written and the verdict stands, so it must not change the exit code."""
    import click

    from drillkit.reporting.junit import write_junit

    try:
        write_junit(path, suites, name=name)
    except OSError as error:
        click.echo(f"warning: cannot write the JUnit file {path}: {error}", err=True)


def send_webhooks(urls: Sequence[str], event: FireEvent) -> None:
    """Post ``event`` to each ``--webhook URL``; a failed delivery is a warning on stderr."""
    import click

    from drillkit.scheduling.notifications import Notifier

    def warn(message: str) -> None:
        click.echo(f"warning: {message}", err=True)

    Notifier(webhooks=urls, on_failure=warn).notify(event)


@contextmanager
def entering_in_evidence_store(
    url: str | None,
    mode: str,
    days: int,
    reports_dir: Path,
    *,
    signing_key: SigningKey | None,
) -> Iterator[None]:
    """With ``url`` (``--evidence``), enter in the evidence store every entry the block
    appends to the local ledger (a run or game day, the findings they opened or closed,
    runs finalised as interrupted, a skip). A store that fails loses nothing local: a
    warning says how to push it later."""
    if url is None:
        yield
        return
    import click

    from drillkit.cli.options import open_evidence_store
    from drillkit.errors import DrillError
    from drillkit.evidence.ledger import read_ledger
    from drillkit.evidence.store import push_appended

    after = len(read_ledger(reports_dir))
    yield
    try:
        pushed = push_appended(
            open_evidence_store(url, mode=mode, days=days),
            reports_dir,
            after=after,
            signing_key=signing_key,
        )
    except DrillError as error:
        click.echo(
            f"warning: what this command entered in the local ledger of {reports_dir} is "
            f"not in the evidence store {url}: {error}; push it later with: drill evidence "
            f"sync --evidence {url}",
            err=True,
        )
        return
    for local, stored in pushed:
        click.echo(
            f"local entry {local} entered in the evidence store {url} as entry {stored}", err=True
        )
