"""The activities of the compatibility documents: a pretend service kept in files.

Both ``chaos run`` and ``drill run`` import this module by name (``activities``, with
``tests/compat`` on ``PYTHONPATH``) in a process of their own. The service's state lives
in the directory ``COMPAT_STATE_DIR`` names, a fresh one for each run, so that what a run
changed (a broken service, a call counter) is seen by its later activities and by nothing
else.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from chaoslib.exit import exit_gracefully, exit_ungracefully

REPLICAS = 3


def _state(name: str) -> Path:
    return Path(os.environ["COMPAT_STATE_DIR"]) / name


# -- the service -------------------------------------------------------------------------


def break_service() -> str:
    """Break the service until a rollback repairs it."""
    _state("broken").write_text("")
    return "broken"


def break_service_for(seconds: float) -> str:
    """Break the service; it heals itself ``seconds`` later."""
    _state("broken").write_text(str(time.time() + seconds))
    return f"broken for {seconds} s"


def repair_service() -> str:
    _state("broken").unlink(missing_ok=True)
    return "repaired"


def service_is_up() -> bool:
    broken = _state("broken")
    if not broken.exists():
        return True
    heals_at = broken.read_text()
    return bool(heals_at) and time.time() >= float(heals_at)


def require_service_up() -> str:
    """A probe that errors, rather than answers "down", while the service is down."""
    if not service_is_up():
        raise RuntimeError("the service does not answer")
    return "up"


def replicas() -> int:
    return REPLICAS if service_is_up() else 0


def status() -> str:
    return "up" if service_is_up() else "down"


def status_line() -> str:
    return f"service web is {status()} ({replicas()} replicas)"


def health() -> dict[str, object]:
    """A health document, as a JSON API would answer it."""
    return {"service": {"name": "web", "status": status(), "replicas": replicas()}}


def is_at_least(minimum: int, value: int | None = None) -> bool:
    """A tolerance of its own: Chaos Toolkit passes the probe's answer as ``value``."""
    return value is not None and value >= minimum


# -- marks: facts a run leaves for its later activities -----------------------------------


def mark(name: str) -> str:
    _state(f"mark-{name}").write_text("")
    return name


def is_marked(name: str) -> bool:
    return _state(f"mark-{name}").exists()


def answer_first_times(counter: str, times: int) -> bool:
    """True for the first ``times`` calls (counted in a file per ``counter``), then False."""
    path = _state(f"calls-{counter}")
    calls = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(calls))
    return calls <= times


# -- how activities end ------------------------------------------------------------------


def fail(reason: str) -> None:
    raise RuntimeError(reason)


def wait(seconds: float) -> float:
    time.sleep(min(seconds, 1.0))
    return seconds


def say(text: str) -> str:
    """Print to standard output, as careless activities do."""
    print(text)
    return text


def leave_gracefully() -> None:
    """Stop the experiment now; its rollbacks still run."""
    exit_gracefully()


def leave_ungracefully() -> None:
    """Stop the experiment now, without its rollbacks."""
    exit_ungracefully()


def greet(greeting: str, token: str, expected_token: str) -> str:
    """What the configuration and the secrets substituted in, without the secret itself."""
    return f"{greeting}, token {'accepted' if token == expected_token else 'refused'}"


def echo(value: object) -> object:
    """The value it is given, as substituted: what the configuration holds."""
    return value
