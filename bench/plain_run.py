"""What ``drill run`` adds to a plain experiment that touches no cluster, beside ``chaos run``.

    .venv/bin/python bench/plain_run.py [--runs 10] [--timeout 60]

One small Chaos Toolkit experiment, python and process providers only and no pauses
(a steady-state probe, two method activities, one rollback), is run with
``chaos run`` and with ``drill run --output json --reports-dir <tmp>``, alternating,
after one warm-up each. Every run has a fresh temporary directory of its own (its
working directory, its reports) and ``KUBECONFIG`` names a file that does not exist,
so no cluster is picked up from the environment and nothing leaves the machine.

Both tools get compiled bytecode: the runs share one ``PYTHONPYCACHEPREFIX``, filled by
the warm-ups, whatever ``PYTHONDONTWRITEBYTECODE`` says (an installed package has its
``.pyc`` files; a checkout run without them would charge drillkit for compiling).

Each process is reaped with ``os.wait4``, which gives its own resource usage: wall
time is measured around it, peak RSS is its ``ru_maxrss`` (the largest of the process
and the children it waited for: the process provider's ``true``; and, on Linux, of the
fork before ``exec``, which is why this script imports nothing heavy: its own RSS would
count in every figure). Medians and p90s
and the ratios drill/chaos are printed, and the difference of the medians: what drill
adds on top of running the experiment, against the goal of at most 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

GOAL_OVERHEAD_SECONDS = 0.5

# Shared with tests/running/test_run_imports.py, which guards what such a run imports.
ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = ROOT / "tests" / "running" / "drills" / "no-cluster-experiment.json"


_started = time.monotonic()


def log(message: str) -> None:
    """Progress on stderr, so stdout carries only the results."""
    print(f"[{time.monotonic() - _started:7.1f} s] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), for 0 <= fraction <= 1."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower, upper = math.floor(position), math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


@dataclass(frozen=True, kw_only=True)
class Measured:
    seconds: float
    peak_rss_mib: float


def run_once(command: Sequence[str], *, cwd: Path, env: dict[str, str], timeout: float) -> Measured:
    """Run ``command`` to its end; its wall time and its own peak RSS."""
    stdout_path, stderr_path = cwd / "stdout", cwd / "stderr"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=stdout, stderr=stderr)
        # Reaped here rather than by Popen, for the process's own rusage; a timer
        # bounds the run.
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if elapsed >= timeout:
        raise TimeoutError(f"{command[0]} did not finish within {timeout:.0f} s")
    CHECKS[command[0]](cwd, process.returncode, stdout_path.read_text(), stderr_path.read_text())
    return Measured(seconds=elapsed, peak_rss_mib=usage.ru_maxrss / 1024)


def check_chaos(cwd: Path, returncode: int, stdout: str, stderr: str) -> None:
    journal = json.loads((cwd / "journal.json").read_text())
    if returncode != 0 or journal["status"] != "completed":
        raise RuntimeError(f"chaos run failed ({returncode}): {stderr[-2000:]}")


def check_drill(cwd: Path, returncode: int, stdout: str, stderr: str) -> None:
    # No objective is declared, so the verdict is never "met": exit code 1 is expected.
    summary = json.loads(stdout) if stdout.strip() else {}
    if returncode != 1 or summary.get("status") != "completed":
        raise RuntimeError(f"drill run failed ({returncode}): {stderr[-2000:]}")


CHECKS: dict[str, Callable[[Path, int, str, str], None]] = {}


def describe_machine() -> str:
    load = os.getloadavg()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{now}; {os.cpu_count()} cores; load average {load[0]:.2f}; "
        f"Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each tool (default 10)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds allowed per run")
    arguments = parser.parse_args()

    bin_dir = Path(sys.executable).parent
    drill = str(bin_dir / "drill")
    chaos = shutil.which("chaos", path=str(bin_dir)) or "chaos"
    CHECKS[drill] = check_drill
    CHECKS[chaos] = check_chaos
    results: dict[str, list[Measured]] = {"chaos": [], "drill": []}
    machine = describe_machine()

    with tempfile.TemporaryDirectory(prefix="drillkit-bench-plain-") as scratch:
        root = Path(scratch)
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        env["KUBECONFIG"] = str(root / "no-kubeconfig")
        env["DRILLKIT_HOME"] = str(root / "home")

        def command(tool: str, workdir: Path) -> list[str]:
            if tool == "chaos":
                return [chaos, "run", str(EXPERIMENT)]
            reports = str(workdir / "reports")
            return [drill, "run", str(EXPERIMENT), "--output", "json", "--reports-dir", reports]

        def measure(tool: str, label: str) -> Measured:
            workdir = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=root))
            measured = run_once(
                command(tool, workdir), cwd=workdir, env=env, timeout=arguments.timeout
            )
            shutil.rmtree(workdir)
            return measured

        for tool in ("chaos", "drill"):
            warm = measure(tool, f"warm-{tool}")
            log(f"warm-up {tool}: {warm.seconds:.2f} s")
        for index in range(1, arguments.runs + 1):
            # Alternate which goes first, so neither always follows the other's exit.
            order = ("chaos", "drill") if index % 2 else ("drill", "chaos")
            for tool in order:
                measured = measure(tool, f"{tool}-{index}")
                results[tool].append(measured)
                log(
                    f"run {index}/{arguments.runs} {tool}: {measured.seconds:.2f} s, "
                    f"{measured.peak_rss_mib:.0f} MiB"
                )

    print("plain experiment benchmark (bench/plain_run.py)")
    print(f"  {machine}; load average at the end {os.getloadavg()[0]:.2f}")
    print(
        "  experiment: 1 steady-state probe (python), method: 1 process action + 1 python probe, "
        "1 rollback (process); no pauses; no cluster"
    )
    print(f"  runs: {arguments.runs} each, alternating, after one warm-up each")
    print()
    print("  tool    wall median    wall p90    peak RSS median    peak RSS max")
    medians: dict[str, tuple[float, float]] = {}
    for tool in ("chaos", "drill"):
        seconds = [m.seconds for m in results[tool]]
        rss = [m.peak_rss_mib for m in results[tool]]
        medians[tool] = (statistics.median(seconds), statistics.median(rss))
        print(
            f"  {tool:6}  {statistics.median(seconds):9.2f} s  {percentile(seconds, 0.9):8.2f} s"
            f"  {statistics.median(rss):13.0f} MiB  {max(rss):10.0f} MiB"
        )
    print()
    wall_ratio = medians["drill"][0] / medians["chaos"][0]
    rss_ratio = medians["drill"][1] / medians["chaos"][1]
    print(f"  ratio drill/chaos: wall median {wall_ratio:.2f}x, peak RSS median {rss_ratio:.2f}x")
    overhead = medians["drill"][0] - medians["chaos"][0]
    verdict = "met" if overhead <= GOAL_OVERHEAD_SECONDS else "NOT met"
    print(
        f"  drill's overhead (median drill - median chaos): {overhead:.2f} s; "
        f"goal <= {GOAL_OVERHEAD_SECONDS} s: {verdict}"
    )
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    log(f"children's CPU time in all: {children.ru_utime + children.ru_stime:.1f} s")


if __name__ == "__main__":
    main()
