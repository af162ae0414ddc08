"""chaostoolkit-lib, behind one module: loading experiments, running them, evaluating probes.

drillkit does not re-implement the engine: ``run_experiment`` hands the experiment
to chaoslib's ``run_experiment``, the entry point ``chaos run`` uses (so references,
controls, the runtime block and interruptions behave as there), and follows it
through a ``RunEventHandler``
(``DrillEventHandler``) that stamps timeline events, starts the observer when the
method starts and, when the method completes, holds the run until recovery is
confirmed or times out, so the after-hypothesis and the rollbacks come after the
measured recovery.

Signals: chaoslib turns SIGTERM into an exception that a running Python activity
swallows as a plain failure. While the experiment runs, drillkit's own handler
takes SIGINT, SIGTERM and ``GUARD_SIGNAL`` (abort from a guard) instead and raises
``SystemExit(20)``, chaoslib's "stop now, but play the rollbacks", which no
activity or event handler catches. A second signal during rollbacks is ignored:
rollbacks always finish (SIGKILL still works; undo records cover that). SIGUSR1
and SIGUSR2 stay chaoslib's: an experiment's own ``exit_gracefully`` and
``exit_ungracefully`` end it as they end it under ``chaos run``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Final

import yaml
from chaoslib import convert_to_type, convert_vars, merge_vars, substitute
from chaoslib.activity import run_activity
from chaoslib.configuration import load_configuration
from chaoslib.exceptions import ChaosException, InterruptExecution, InvalidExperiment
from chaoslib.experiment import ensure_experiment_is_valid
from chaoslib.experiment import run_experiment as chaoslib_run_experiment
from chaoslib.hypothesis import within_tolerance
from chaoslib.loader import load_experiment as chaoslib_load_experiment
from chaoslib.run import RunEventHandler
from chaoslib.types import Schedule, Strategy

from drillkit.errors import InvalidInput
from drillkit.faults.steps import (
    AFFECTED_KEY,
    INJECTED_AT,
    LANDED_WITHIN_KEY,
    RESTORE_POINT_KEY,
    RESTORED_KEY,
    STEPS_KEY,
)
from drillkit.model.activities import Section, parse_activity
from drillkit.model.drill import RollbackPolicy
from drillkit.model.run import RestoredKind, RestoreSummary
from drillkit.model.timeline import (
    ActivityCompleted,
    ActivityStarted,
    Affected,
    FaultInjected,
    Instant,
    ProcedureStepRun,
    RollbackCompleted,
    RollbackStarted,
    RunInterrupted,
    SteadyStateVerified,
    parse_utc,
)
from drillkit.processes import OwnedProcesses
from drillkit.running.observer import Evaluation, Observer
from drillkit.running.recorder import TimelineRecorder

Experiment = dict[str, Any]
Journal = dict[str, Any]

# chaoslib's code for "terminate now, keeping the rollbacks" (its SIGUSR1).
_STOP_WITH_ROLLBACKS = 20

GUARD_SIGNAL: Final = signal.SIGRTMIN
"""How a tripped guard stops the main thread: a real-time signal, which Chaos Toolkit
does not use (its SIGUSR1 and SIGUSR2 are an experiment's own graceful and ungraceful exit)."""

_ROLLBACK_STRATEGIES = {
    RollbackPolicy.ALWAYS: "always",
    RollbackPolicy.ON_FAILURE: "deviated",
    RollbackPolicy.NEVER: "never",
}
_CHAOS_ROLLBACK_STRATEGIES = ("default", "always", "never", "deviated")
# What chaos run reads from a runtime block, its old misspelling included.
_HYPOTHESIS_STRATEGIES = (
    "default",
    "before-method-only",
    "after-method-only",
    "during-method-only",
    "continuously",
    "continously",
    "skip",
)


@dataclass(frozen=True, kw_only=True)
class RuntimeStrategies:
    """When the rollbacks and the hypothesis run, as ``chaos run`` resolves them."""

    rollbacks: str
    """chaoslib's rollback strategy: default, always, never or deviated."""
    hypothesis: Strategy


def runtime_strategies(
    experiment: Mapping[str, Any], rollback: RollbackPolicy | None
) -> RuntimeStrategies:
    """The experiment's ``runtime`` block, under the drill file's rollback policy.

    A drill file's ``safety.rollback`` wins; else the experiment's own
    ``runtime.rollbacks.strategy``; else drillkit plays the rollbacks always, unlike
    Chaos Toolkit's default (which skips them after an interruption): a drill never
    leaves a cluster as a fault left it. The hypothesis strategy is the experiment's.
    """
    runtime = experiment.get("runtime") or {}
    rollbacks = (runtime.get("rollbacks") or {}).get("strategy")
    hypothesis = (runtime.get("hypothesis") or {}).get("strategy") or "default"
    if rollback is not None:
        rollbacks = _ROLLBACK_STRATEGIES[rollback]
    return RuntimeStrategies(
        rollbacks=rollbacks or "always",
        hypothesis=Strategy.from_string(
            "continuously" if hypothesis == "continously" else hypothesis
        ),
    )


def _check_rollback_references(experiment: Mapping[str, Any]) -> None:
    # chaoslib validates the method's references, not the rollbacks': chaos run finds an
    # unknown one only when the rollbacks play, after the method, and stops there with a
    # traceback. drill refuses it before anything runs.
    hypothesis = experiment.get("steady-state-hypothesis") or {}
    activities = [
        *hypothesis.get("probes", []),
        *experiment.get("method", []),
        *experiment.get("rollbacks", []),
    ]
    names = {a.get("name") for a in activities if isinstance(a, Mapping)}
    for index, rollback in enumerate(experiment.get("rollbacks", [])):
        if isinstance(rollback, Mapping) and "ref" in rollback and rollback["ref"] not in names:
            raise InvalidExperiment(
                f"rollbacks[{index}]: referenced activity {rollback['ref']!r} could not be "
                "found in the experiment"
            )


def _check_runtime(experiment: Mapping[str, Any]) -> None:
    runtime = experiment.get("runtime")
    if runtime is None:
        return
    if not isinstance(runtime, Mapping):
        raise InvalidExperiment("runtime: must be a mapping")
    for section, allowed in (
        ("rollbacks", _CHAOS_ROLLBACK_STRATEGIES),
        ("hypothesis", _HYPOTHESIS_STRATEGIES),
    ):
        block = runtime.get(section) or {}
        if not isinstance(block, Mapping):
            raise InvalidExperiment(f"runtime.{section}: must be a mapping")
        strategy = block.get("strategy")
        if strategy is not None and strategy not in allowed:
            raise InvalidExperiment(
                f"runtime.{section}.strategy: {strategy!r} is not one of {', '.join(allowed)}"
            )


# An experiment is a few hundred values; YAML aliases nested in each other can make a
# short file stand for billions, which every walk of the run's record would expand.
_MAX_EXPANDED_VALUES = 100_000


def load_experiment(path: Path) -> Experiment:
    """Parse and validate a Chaos Toolkit experiment file; InvalidInput names the file."""
    if not path.is_file():
        raise InvalidInput(f"{path}: experiment file not found")
    try:
        experiment: Experiment = chaoslib_load_experiment(str(path))
        _ensure_bounded_expansion(path, experiment)
        ensure_experiment_is_valid(experiment)
        _check_runtime(experiment)
        _check_rollback_references(experiment)
    except ChaosException as error:
        raise InvalidInput(f"{path}: invalid experiment: {_one_line(error)}") from error
    except (ValueError, TypeError, OSError) as error:
        raise InvalidInput(f"{path}: cannot read experiment: {_one_line(error)}") from error
    return experiment


def _ensure_bounded_expansion(path: Path, experiment: object) -> None:
    """Refuse a document that expands, as a tree, to more than ``_MAX_EXPANDED_VALUES``
    values (or refers to itself); stops counting there, so it takes bounded time."""
    pending = [experiment]
    counted = 0
    while pending:
        value = pending.pop()
        counted += 1
        if counted > _MAX_EXPANDED_VALUES:
            raise InvalidInput(
                f"{path}: invalid experiment: it expands to more than "
                f"{_MAX_EXPANDED_VALUES} values; are YAML aliases (*name) nested in each other?"
            )
        if isinstance(value, Mapping):
            pending += value.values()
        elif isinstance(value, list):
            pending += value


@dataclass(frozen=True, kw_only=True)
class ExperimentVars:
    """Values given for an experiment's configuration and secrets (``--var``,
    ``--var-file``), handed to chaoslib as ``chaos run`` hands them.

    chaoslib's precedence: a configuration key given replaces the experiment's entry (its
    definition, when a var file gives one, ``{type: env, ...}`` included); a secrets
    target given replaces the experiment's target whole. What the experiment does not
    declare is ignored.
    """

    configuration: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, Any] = field(default_factory=dict)

    def applied_to(self, experiment: Mapping[str, Any]) -> Experiment:
        """A copy of ``experiment`` holding the configuration and secrets the run will use
        (environment variables still unread), for what is judged before the run or after
        it: the guardrails, the clusters the faults name, the secrets to redact."""
        applied: Experiment = copy.deepcopy(dict(experiment))
        configuration = applied.get("configuration")
        if isinstance(configuration, dict):
            for key in configuration:
                if key in self.configuration:
                    configuration[key] = copy.deepcopy(self.configuration[key])
        secrets = applied.get("secrets")
        if isinstance(secrets, dict):
            for key, target in secrets.items():
                if isinstance(target, Mapping) and self.secrets.get(key) is not None:
                    secrets[key] = copy.deepcopy(self.secrets[key])
        return applied

    def for_chaoslib(self) -> tuple[dict[str, Any], dict[str, Any]]:
        # chaoslib pops from these what it uses: it gets copies, the options stay whole.
        return copy.deepcopy(dict(self.configuration)), copy.deepcopy(dict(self.secrets))


def load_experiment_vars(variables: Sequence[str], files: Sequence[Path]) -> ExperimentVars:
    """``--var`` and ``--var-file`` as ``chaos run`` reads them, with chaoslib's own
    ``convert_vars`` and ``merge_vars``: the files in order, each over the ones before,
    then ``--var`` over them all. A file that is neither JSON nor YAML (a ``.env`` file)
    sets its variables in this process's environment, as under ``chaos run``, where
    configuration and secrets of ``type: env`` read them.

    Every value and file is checked before anything is set: ``InvalidInput`` names the
    option or the file, never a value (it may be a secret). Where chaoslib logs a file it
    cannot parse and goes on without it, a drill does not start.
    """
    given: dict[str, Any] = {}
    for variable in variables:
        given.update(_convert_var(variable))
    for path in files:
        _check_var_file(path)
    configuration, secrets = merge_vars(given, [str(path) for path in files])
    return ExperimentVars(configuration=configuration, secrets=secrets)


def _convert_var(variable: str) -> dict[str, Any]:
    name, separator, _ = variable.partition("=")
    if not separator:
        raise InvalidInput(f"--var {variable!r}: expected KEY=VALUE or KEY:TYPE=VALUE")
    kind = name.rpartition(":")[2] if ":" in name else "str"
    try:
        # Any value of a known type converts from "0": only an unknown type fails here,
        # in chaoslib's own words.
        convert_to_type(kind, "0")
    except ValueError as error:
        raise InvalidInput(f"--var {name}: {_one_line(error)}") from None
    try:
        converted: dict[str, Any] = convert_vars([variable])
    except ValueError:
        raise InvalidInput(f"--var {name}: cannot convert the value to {kind}") from None
    return converted


def _check_var_file(path: Path) -> None:
    """Refuse a var file ``merge_vars`` would skip or fail on; it reads files as here."""
    try:
        content = path.read_text()
    except OSError as error:
        raise InvalidInput(f"--var-file {path}: cannot read it: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise InvalidInput(f"--var-file {path}: cannot read it: {error}") from None
    if not content:
        return
    data: object = None
    try:
        if path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(content)
        elif path.suffix == ".json":
            data = json.loads(content)
    except yaml.YAMLError as error:
        raise InvalidInput(f"--var-file {path}: not valid YAML: {_one_line(error)}") from None
    except ValueError as error:
        raise InvalidInput(f"--var-file {path}: not valid JSON: {_one_line(error)}") from None
    if not data:
        # What chaoslib reads as a .env file: NAME=VALUE lines, blanks and # comments.
        for number, line in enumerate(content.split(os.linesep), start=1):
            line = line.strip()
            if line and not line.startswith("#") and "=" not in line:
                raise InvalidInput(
                    f"--var-file {path}: line {number}: expected NAME=VALUE (a .env file), "
                    "or a JSON or YAML file of configuration and secrets"
                )
        return
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f"--var-file {path}: expected a mapping of configuration and secrets, "
            f"found a {type(data).__name__}"
        )
    for section in ("configuration", "secrets"):
        if not isinstance(data.get(section, {}), Mapping):
            raise InvalidInput(f"--var-file {path}: {section}: expected a mapping")


def resolve_activities(experiment: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """The configuration as chaoslib will resolve it (environment variables read) and
    the method's and rollbacks' activities with their arguments substituted, so that
    what they name can be checked before the run; reads only."""
    try:
        configuration = dict(
            load_configuration(copy.deepcopy(experiment.get("configuration") or {}))
        )
    except ChaosException as error:
        raise InvalidInput(f"the experiment's configuration: {_one_line(error)}") from None
    activities = [
        substitute(copy.deepcopy(activity), configuration, {})
        for section in ("method", "rollbacks")
        for activity in experiment.get(section) or []
    ]
    return configuration, activities


def hypothesis_probes(experiment: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The probes of the experiment's steady-state hypothesis (the recovery condition)."""
    hypothesis = experiment.get("steady-state-hypothesis") or {}
    return [copy.deepcopy(p) for p in hypothesis.get("probes", []) if p.get("type") == "probe"]


class ProbeCondition:
    """A condition made of Chaos Toolkit probes: it holds when every probe is within tolerance.

    A probe that fails does not hold, except one that failed because ``api_server`` (the
    measured cluster's) did not answer: that is a gap in measurement, and the condition
    is unobserved unless another probe says it does not hold.
    """

    def __init__(
        self,
        name: str,
        probes: Sequence[Mapping[str, Any]],
        configuration: Mapping[str, Any],
        secrets: Mapping[str, Any],
        *,
        api_server: str | None = None,
    ) -> None:
        self.name = name
        self.probes = [dict(p) for p in probes]
        self.configuration = dict(configuration)
        self.secrets = dict(secrets)
        self.api_server = api_server

    def evaluate(self) -> Evaluation:
        unanswered: list[str] = []
        for probe in self.probes:
            try:
                value = run_activity(probe, self.configuration, self.secrets)
            except Exception as error:  # a probe that cannot answer does not hold
                detail = f"{probe['name']}: {_one_line(error)}"
                if self.api_server is not None and _failed_to_reach(error, self.api_server):
                    unanswered.append(detail)
                    continue
                return Evaluation(holds=False, detail=detail)
            tolerance = probe.get("tolerance")
            if tolerance is None:
                continue
            if isinstance(tolerance, str):
                # As chaoslib's hypothesis does: a string tolerance may name the configuration.
                tolerance = substitute(tolerance, self.configuration, self.secrets)
            if not within_tolerance(tolerance, value, self.configuration, self.secrets):
                return Evaluation(
                    holds=False, detail=f"{probe['name']}: {_short(value)} outside tolerance"
                )
        if unanswered:
            return Evaluation(holds=False, observed=False, detail="; ".join(unanswered))
        return Evaluation(holds=True)


ObserverFactory = Callable[[Mapping[str, Any], Mapping[str, Any]], Observer]


def _failed_to_reach(error: BaseException, api_server: str) -> bool:
    # Only a run that measures a cluster names its API server, and that run has the
    # Kubernetes client loaded already; a run without one never pays for importing it.
    from drillkit.drivers.kubernetes import failed_to_reach

    return failed_to_reach(error, api_server)


def plain_activity_error(exception: str) -> str:
    """The last line of an activity's journaled exception, in the user's words: without
    chaoslib's ``ActivityFailed`` wrapping and without module paths, so that
    ``chaoslib.exceptions.ActivityFailed: drillkit.errors.InvalidInput: needs min_value``
    reads ``needs min_value`` and a foreign ``requests.exceptions.ReadTimeout: ...``
    reads ``ReadTimeout: ...``."""
    lines = exception.strip().splitlines()
    line = lines[-1] if lines else ""
    line = line.removeprefix("chaoslib.exceptions.ActivityFailed: ")
    own = re.match(r"drillkit\.errors\.\w+: ", line)
    if own:
        return line[own.end() :]
    return re.sub(r"^(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*: )", "", line)


@dataclass(eq=False)
class DrillEventHandler(RunEventHandler):  # type: ignore[misc]
    """Follows chaoslib's run: timeline events, the observer, signals, the recovery wait."""

    recorder: TimelineRecorder
    make_observer: ObserverFactory
    after_recovery: Callable[[], None] = lambda: None
    processes: OwnedProcesses = field(default_factory=OwnedProcesses)
    """The processes the run's activities start; a stopped method's are ended before
    its rollbacks run, so no fault goes on acting while it is rolled back."""
    observer: Observer | None = field(init=False, default=None)
    interrupted_by: str | None = field(init=False, default=None)
    steady_state_before: bool | None = field(init=False, default=None)
    failed_fault: str | None = field(init=False, default=None)
    """Why a drillkit fault of the method failed; the run then ends in error."""
    failed_before_method: str | None = field(init=False, default=None)
    """Why a probe of the steady state before the method failed (raised, not out of
    tolerance): the steady state was not checked, rather than found not to hold."""
    restore_point_age: float | None = field(init=False, default=None)
    """Age of the snapshot or backup restored, at the disaster (for the RPO report)."""
    restore: RestoreSummary | None = field(init=False, default=None)
    """What the run's backup restore wrote, by kind (for the report's restore section)."""
    _phase: str = field(init=False, default="starting", repr=False)
    _activity_starts: dict[int, Instant] = field(init=False, default_factory=dict, repr=False)
    _previous_handlers: dict[int, Any] = field(init=False, default_factory=dict, repr=False)

    # -- chaoslib callbacks -------------------------------------------------------------

    def running(
        self,
        experiment: Experiment,
        journal: Journal,
        configuration: Mapping[str, Any],
        secrets: Mapping[str, Any],
        schedule: Any,
        settings: Any,
    ) -> None:
        self.observer = self.make_observer(configuration or {}, secrets or {})
        for signum in (signal.SIGINT, signal.SIGTERM, GUARD_SIGNAL):
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def hypothesis_before_completed(
        self, experiment: Experiment, state: Mapping[str, Any], journal: Journal
    ) -> None:
        holds = bool(state and state.get("steady_state_met"))
        self.steady_state_before = holds
        self.recorder.record(SteadyStateVerified(at=self.recorder.now(), holds=holds))

    def start_method(self, experiment: Experiment) -> None:
        self._phase = "method"
        if self.observer is not None:
            self.observer.start()

    def start_activity(self, activity: Mapping[str, Any]) -> None:
        at = self.recorder.now()
        self._activity_starts[id(activity)] = at
        self.recorder.record(
            ActivityStarted(at=at, name=activity.get("name", "?"), activity_type=activity["type"])
        )

    def activity_completed(self, activity: Mapping[str, Any], run: Mapping[str, Any]) -> None:
        status = str(run.get("status", "unknown"))
        error = run.get("exception")
        error_line = plain_activity_error("".join(error)) if error else None
        if error_line and self._phase == "starting" and self.failed_before_method is None:
            self.failed_before_method = f"probe {activity.get('name', '?')} failed: {error_line}"
        self.recorder.record(
            ActivityCompleted(
                at=self.recorder.now(),
                name=activity.get("name", "?"),
                activity_type=activity["type"],
                status=status,
                error=error_line,
            )
        )
        output = run.get("output")
        if isinstance(output, Mapping):
            self._record_steps(output.get(STEPS_KEY) or [])
            restore_point = output.get(RESTORE_POINT_KEY)
            if isinstance(restore_point, Mapping):
                self.restore_point_age = float(restore_point["age_seconds"])
            restored = output.get(RESTORED_KEY)
            if restored is not None:
                self._record_restore(restored)
        if self._phase == "method" and activity["type"] == "action":
            if status == "succeeded":
                self._record_injection(activity, run)
            elif parse_activity(activity, Section.METHOD).is_drillkit_fault:
                # A drillkit fault fails before harm (a rejected snapshot, a refused
                # eviction budget) or half-way: either way the method cannot go on as
                # designed. Stop it here; the rollbacks and the undo records run.
                self.failed_fault = f"action {activity.get('name', '?')} failed: {error_line}"
                raise SystemExit(_STOP_WITH_ROLLBACKS)

    def method_completed(self, experiment: Experiment, state: Any = None) -> None:
        self._phase = "recovering"
        injected = any(isinstance(e, FaultInjected) for e in self.recorder.events())
        # Without an injection there is nothing to recover from: do not wait.
        if self.observer is not None and self.interrupted_by is None and injected:
            self.observer.wait_until_settled()
        self._stop_observer()
        self.after_recovery()

    def start_rollbacks(self, experiment: Experiment) -> None:
        self._phase = "rollback"
        self._stop_observer()
        if self.interrupted_by is not None:
            for process in self.processes.end():
                logging.getLogger("drillkit").warning(
                    "ended %s, which the stopped method left running", process.describe()
                )
        self.recorder.record(RollbackStarted(at=self.recorder.now()))

    def rollbacks_completed(self, experiment: Experiment, journal: Journal) -> None:
        statuses = {r.get("status") for r in journal.get("rollbacks", [])}
        status = "failed" if "failed" in statuses else "succeeded"
        self.recorder.record(RollbackCompleted(at=self.recorder.now(), status=status))

    def finish(self, journal: Journal) -> None:
        self._phase = "finished"
        self._stop_observer()
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)

    # -- internals ----------------------------------------------------------------------

    def _stop_observer(self) -> None:
        if self.observer is not None:
            self.observer.stop()

    def _record_steps(self, steps: Sequence[Mapping[str, Any]]) -> None:
        for step in steps:
            started = step["started"]
            self.recorder.record(
                ProcedureStepRun(
                    at=Instant(
                        monotonic=float(started["monotonic"]), utc=parse_utc(started["utc"])
                    ),
                    phase=str(step["phase"]),
                    name=str(step["name"]),
                    command=str(step["command"]),
                    executor=str(step["executor"]),
                    member=step.get("member"),
                    seconds=float(step["seconds"]),
                    exit_code=int(step["exit_code"]),
                )
            )

    def _record_restore(self, restored: object) -> None:
        try:
            self.restore = read_restore_summary(restored)
        except ValueError as error:
            # chaoslib would swallow the exception and skip the rest of this callback
            # (the injection, the failed-fault stop); losing the summary is the lesser harm.
            logging.getLogger("drillkit").warning("restore summary not recorded: %s", error)

    def _record_injection(self, activity: Mapping[str, Any], run: Mapping[str, Any]) -> None:
        output = run.get("output")
        fields: Mapping[str, Any] = output if isinstance(output, Mapping) else {}
        acknowledged = fields.get(INJECTED_AT)
        if INJECTED_AT in fields and acknowledged is None:
            # A drillkit fault that disrupted nothing (e.g. a drain of an empty zone):
            # there is no t_inject, and the run will say the fault never took effect.
            return
        landed_within: float | None = None
        if isinstance(acknowledged, Mapping) and "monotonic" in acknowledged:
            at = Instant(
                monotonic=float(acknowledged["monotonic"]), utc=parse_utc(acknowledged["utc"])
            )
            detail = "acknowledged by the target"
            window = fields.get(LANDED_WITHIN_KEY)
            if isinstance(window, int | float) and not isinstance(window, bool) and window >= 0:
                landed_within = float(window)
                detail = f"start of the step that landed it within {window:.3f} s"
        else:
            # A generic action cannot say when its effect began: its start is t_inject
            # (the RTO is never under-reported), and its effect may have landed at any
            # moment until it returned (nor is the RPO).
            now = self.recorder.now()
            at = self._activity_starts.get(id(activity), now)
            landed_within = max(0.0, now.monotonic - at.monotonic)
            detail = "start of a generic action (its acknowledgement time is unknown)"
        restore_point = fields.get(RESTORE_POINT_KEY)
        if isinstance(restore_point, Mapping):
            detail += f"; restore point {restore_point['path']} ({_describe(restore_point)})"
        name = activity.get("name", "?")
        affected = self._read_affected(output)
        self.recorder.record(
            FaultInjected(
                at=at,
                activity=name,
                detail=detail,
                affected=affected,
                landed_within_seconds=landed_within,
            )
        )
        if self.observer is not None:
            self.observer.poke()

    def _read_affected(self, output: object) -> tuple[Affected, ...] | None:
        """What a drillkit fault says it disrupted; None when the action does not say."""
        if not isinstance(output, Mapping) or AFFECTED_KEY not in output:
            return None
        try:
            return read_affected(output[AFFECTED_KEY])
        except ValueError as error:
            # Unreadable is treated as unknown, the conservative reading: the fault then
            # counts as landed only if the recovery condition was seen lost after it.
            logging.getLogger("drillkit").warning("what the fault affected is unknown: %s", error)
            return None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._phase in ("rollback", "finished"):
            logging.getLogger("drillkit").warning(
                "signal %s ignored: rollbacks are running and will finish", signum
            )
            return
        if self.interrupted_by is not None:
            return
        name = signal.Signals(signum).name
        self.interrupted_by = "guard" if signum == GUARD_SIGNAL else name
        if signum != GUARD_SIGNAL:
            self.recorder.record(RunInterrupted(at=self.recorder.now(), signal=name))
        raise SystemExit(_STOP_WITH_ROLLBACKS)


def read_restore_summary(restored: object) -> RestoreSummary:
    """Read a restore fault's ``RESTORED_KEY`` output; ValueError says what is wrong."""
    try:
        if not isinstance(restored, Mapping):
            raise TypeError(f"expected a mapping, got {type(restored).__name__}")
        kinds = tuple(
            RestoredKind(kind=str(item["kind"]), count=_count(item["count"]))
            for item in restored["objects_by_kind"]
        )
        return RestoreSummary(
            backup=str(restored["backup"]),
            target=str(restored["target"]),
            namespaces=tuple(str(n) for n in restored["namespaces"]),
            objects_by_kind=tuple(sorted(kinds, key=lambda k: k.kind)),
            created=_count(restored["created"]),
            replaced=_count(restored["replaced"]),
            skipped=_count(restored["skipped"]),
        )
    except KeyError as missing:
        raise ValueError(f"{RESTORED_KEY} has no {missing}") from None
    except TypeError as error:
        raise ValueError(f"{RESTORED_KEY} is malformed: {error}") from None


def read_affected(entries: object) -> tuple[Affected, ...]:
    """Read a fault's ``AFFECTED_KEY`` output; ValueError says what is wrong."""
    if not isinstance(entries, list | tuple):
        raise ValueError(f"{AFFECTED_KEY} must be a list, got {type(entries).__name__}")
    affected: list[Affected] = []
    for position, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ValueError(f"{AFFECTED_KEY}[{position}] must be a mapping")
        text = {key: entry.get(key) for key in ("kind", "name", "action")}
        optional = {key: entry.get(key) for key in ("namespace", "workload")}
        if not all(isinstance(value, str) and value for value in text.values()):
            raise ValueError(f"{AFFECTED_KEY}[{position}] needs kind, name and action")
        if not all(value is None or isinstance(value, str) for value in optional.values()):
            raise ValueError(f"{AFFECTED_KEY}[{position}]: namespace and workload are text")
        affected.append(
            Affected(
                kind=str(text["kind"]),
                name=str(text["name"]),
                action=str(text["action"]),
                namespace=optional["namespace"],
                workload=optional["workload"],
            )
        )
    return tuple(affected)


def _count(value: object) -> int:
    # bool is an int in Python; a count of True is a bug in the fault, not one object.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{value!r} is not a count")
    return value


def _describe(restore_point: Mapping[str, Any]) -> str:
    """``sha256 …, taken …, N bytes``: what a fault said of its restore point."""
    facts = [f"taken {restore_point['taken_utc']}"]
    if restore_point.get("sha256"):
        facts.insert(0, f"sha256 {restore_point['sha256']}")
    if restore_point.get("size") is not None:
        facts.append(f"{restore_point['size']} bytes")
    if restore_point.get("items") is not None:
        facts.append(f"{restore_point['items']} items")
    return ", ".join(facts)


def abort_main_thread() -> None:
    """Ask the main thread to stop the run with rollbacks (a guard tripped)."""
    main = threading.main_thread().ident
    if main is not None:
        signal.pthread_kill(main, GUARD_SIGNAL)


def run_experiment(
    experiment: Experiment,
    *,
    strategies: RuntimeStrategies,
    handler: DrillEventHandler,
    experiment_vars: ExperimentVars | None = None,
) -> Journal:
    """Run the experiment through chaoslib's entry point and return its journal;
    ``experiment_vars`` override its configuration and secrets as under ``chaos run``."""
    settings = {
        "runtime": {
            "rollbacks": {"strategy": strategies.rollbacks},
            "hypothesis": {"strategy": strategies.hypothesis.value},
        }
    }
    logging.getLogger("chaostoolkit").setLevel(logging.ERROR)
    experiment = copy.deepcopy(experiment)
    # As chaos run without --dry: the document does not choose what to skip.
    experiment["dry"] = None
    try:
        journal: Journal = chaoslib_run_experiment(
            experiment,
            settings=settings,
            strategy=strategies.hypothesis,
            schedule=Schedule(),
            event_handlers=[handler],
            experiment_vars=(experiment_vars or ExperimentVars()).for_chaoslib(),
        )
    except (KeyboardInterrupt, InterruptExecution, SystemExit):
        # Interrupted before chaoslib's run loop took over (while loading its
        # configuration): nothing was injected, so there is nothing to roll back.
        handler.interrupted_by = handler.interrupted_by or "SIGINT"
        journal = {"status": "interrupted", "deviated": False}
    return journal


def strip_secrets(journal: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the journal without the experiment's secrets block."""
    cleaned = copy.deepcopy(dict(journal))
    experiment = cleaned.get("experiment")
    if isinstance(experiment, dict):
        experiment.pop("secrets", None)
    return cleaned


def _one_line(error: object) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _short(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = [
    "DrillEventHandler",
    "ExperimentVars",
    "ProbeCondition",
    "abort_main_thread",
    "hypothesis_probes",
    "load_experiment",
    "load_experiment_vars",
    "read_affected",
    "read_restore_summary",
    "resolve_activities",
    "run_experiment",
    "strip_secrets",
]
