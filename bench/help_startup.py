"""How fast ``drill --help`` starts, beside ``chaos --help`` (Chaos Toolkit) in the same run.

    .venv/bin/python bench/help_startup.py [--runs 20]

Both commands are run as subprocesses, alternating, after one warm-up each so
the file cache is equally warm; the medians and their ratio are printed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def time_command(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    arguments = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    drill = [str(bin_dir / "drill"), "--help"]
    chaos = [shutil.which("chaos", path=str(bin_dir)) or "chaos", "--help"]
    for command in (drill, chaos):
        time_command(command)
    drill_times, chaos_times = [], []
    for _ in range(arguments.runs):
        drill_times.append(time_command(drill))
        chaos_times.append(time_command(chaos))
    drill_median = statistics.median(drill_times)
    chaos_median = statistics.median(chaos_times)
    print(f"runs: {arguments.runs} each, alternating")
    for name, times in (("drill", drill_times), ("chaos", chaos_times)):
        median = statistics.median(times) * 1000
        print(f"{name} --help  median {median:7.1f} ms  (max {max(times) * 1000:.1f} ms)")
    print(f"ratio chaos/drill: {chaos_median / drill_median:.2f}x")


if __name__ == "__main__":
    main()
