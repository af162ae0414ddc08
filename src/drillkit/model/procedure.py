"""A control plane's etcd and the restore procedure a drill runs against it, as declared.

An etcd restore is an operator's runbook: stop the API servers, restore the snapshot
into fresh data directories, swap them in, start etcd, start the API servers,
restart the controllers. drillkit does not hard-code that runbook; the experiment
declares it as shell commands in four phases, and drillkit runs them through an
executor (this machine, or a control-plane host over SSH), timing every step:

- ``kill``: how to crash the members abruptly (the disaster uses it);
- ``stop``: what must be down before data is replaced (the API servers, etcd);
- ``restore``: restore and swap the data directories;
- ``start``: bring everything back, waiting until it answers.

Commands are templates. ``{snapshot}``, ``{run_id}`` and ``{initial_cluster}``
are always available, plus the target's ``variables``; a step with
``each_member: true`` runs once per member with ``{member}``, ``{data_dir}``,
``{peer_url}``, ``{client_url}`` and ``{component}`` filled in. Literal braces
are written twice (``{{`` and ``}}``).

Values come from places a template author does not control (a catalogue on the
host, a state home's path), so every value is substituted shell-quoted, as one
word: ``rm -rf {data_dir}.restoring`` is right as written, even for a path with
a space or ``$(...)`` in it. A placeholder must therefore stand where a bare word
may: inside ``'...'`` or ``"..."``, in a ``#`` comment or in a here-document the
quoting would be taken literally or undone, so such a template is refused when
it is loaded, as are conversions and format specs (``{snapshot!r}``,
``{member:>8}``) that would change the quoted word.

These models are pure values, validated when a drill's activity starts and before
it touches anything.
"""

from __future__ import annotations

import re
import string
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, model_validator

from drillkit.model.durations import Duration

MEMBER_FIELDS = frozenset({"member", "data_dir", "peer_url", "client_url", "component"})
RUN_FIELDS = frozenset({"snapshot", "run_id", "initial_cluster"})
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _exportable(environment: dict[str, str]) -> dict[str, str]:
    # The SSH executor writes `export NAME=value` into the remote command line: a name
    # that is not a shell identifier would be a syntax error there, or worse, code.
    for name in environment:
        if not _VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an environment variable name")
    return environment


Environment = Annotated[dict[str, str], AfterValidator(_exportable)]


class _Declared(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalExecutorSpec(_Declared):
    """Run commands on this machine with bash."""

    type: Literal["local"] = "local"
    path: tuple[str, ...] = Field(
        default=(), description="Directories put in front of PATH (where etcdutl lives, say)."
    )
    environment: Environment = Field(
        default_factory=dict, description="Variables set for every command (KUBECONFIG, say)."
    )


class SshExecutorSpec(_Declared):
    """Run commands on a control-plane host with the OpenSSH client, non-interactively."""

    type: Literal["ssh"]
    host: str = Field(min_length=1)
    port: int = Field(default=22, ge=1, le=65535)
    user: str = Field(min_length=1)
    identity_file: str | None = Field(default=None, description="Private key for the login.")
    known_hosts_file: str | None = Field(
        default=None,
        description="The host's key must be listed here; unknown host keys are refused.",
    )
    path: tuple[str, ...] = Field(default=(), description="Directories put in front of PATH.")
    environment: Environment = Field(
        default_factory=dict,
        description="Variables exported before every command: an SSH session starts with "
        "the host's login environment, not this machine's.",
    )


ExecutorSpec = Annotated[LocalExecutorSpec | SshExecutorSpec, Discriminator("type")]


class EtcdTlsSpec(_Declared):
    """Client TLS for etcdctl, as paths on the host the executor runs on."""

    cacert: str
    cert: str
    key: str


class EtcdMemberSpec(_Declared):
    """One etcd member as the restore needs it."""

    name: str = Field(min_length=1, description="The member name (etcd --name).")
    data_dir: str = Field(min_length=1, description="Its data directory on the host.")
    peer_url: str = Field(min_length=1)
    client_url: str = Field(min_length=1)
    component: str | None = Field(
        default=None, description="How the procedure's commands name its process (default: name)."
    )


class EtcdTargetSpec(_Declared):
    """The etcd cluster behind a control plane, and how to reach its host."""

    members: tuple[EtcdMemberSpec, ...] = Field(min_length=1)
    executor: ExecutorSpec = Field(default_factory=LocalExecutorSpec)
    tls: EtcdTlsSpec | None = None
    etcdctl: str = "etcdctl"
    etcdutl: str = "etcdutl"
    variables: dict[str, str] = Field(
        default_factory=dict, description="Extra {placeholders} for the procedure's commands."
    )

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(m.client_url for m in self.members)

    @property
    def initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)


def _bare_placeholders(template: str) -> str:
    ensure_bare_placeholders(template)
    return template


class ProcedureStep(_Declared):
    """One command of the runbook."""

    name: str = Field(min_length=1, description="What the step does, for the report.")
    run: Annotated[str, AfterValidator(_bare_placeholders)] = Field(
        min_length=1, description="A bash command template; values are substituted quoted."
    )
    each_member: bool = Field(
        default=False, description="Run once per affected member, with its fields filled in."
    )
    timeout: Duration = Field(default=timedelta(minutes=5))


class RestoreProcedure(_Declared):
    """The runbook in its four phases (see the module docstring)."""

    kill: tuple[ProcedureStep, ...] = Field(min_length=1)
    stop: tuple[ProcedureStep, ...] = ()
    restore: tuple[ProcedureStep, ...] = Field(min_length=1)
    start: tuple[ProcedureStep, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _member_fields_need_each_member(self) -> RestoreProcedure:
        # Other placeholders are checked against the target's variables when it is known.
        for phase in ("kill", "stop", "restore", "start"):
            for index, step in enumerate(getattr(self, phase)):
                for name in placeholders(step.run):
                    if name in MEMBER_FIELDS and not step.each_member:
                        raise ValueError(
                            f"{phase}[{index}] ({step.name}): {{{name}}} needs each_member: true"
                        )
        return self

    def steps(self) -> list[tuple[str, ProcedureStep]]:
        """Every step with its phase, in the order a full restore runs them."""
        return [
            (phase, step) for phase in ("stop", "restore", "start") for step in getattr(self, phase)
        ]


def placeholders(template: str) -> list[str]:
    """The ``{names}`` a command template uses; ``ValueError`` for a malformed template."""
    return [name for _, name in _pieces(template) if name is not None]


def ensure_bare_placeholders(template: str) -> None:
    """``ValueError`` unless every placeholder stands where bash reads a plain word.

    The quoted value is one word there; inside quotes, a comment or a here-document
    it would not be (see the module docstring). Tracks bash's quoting as far as a
    runbook needs: quotes, backslashes, ``$(...)``, backticks, comments, ``<<``.
    """
    contexts = ["plain"]
    heredoc = False
    previous = "\n"
    for literal, name in _pieces(template):
        index = 0
        while index < len(literal):
            char, pair = literal[index], literal[index : index + 2]
            top = contexts[-1]
            # Only at the start of a word does # begin a comment (a#b is one word).
            word_start = (literal[index - 1] if index else previous) in " \t\n;&|()"
            if top == "comment":
                if char == "\n":
                    contexts.pop()
            elif top == "single":
                if char == "'":
                    contexts.pop()
            elif top in ("ansi", "double") and char == "\\":
                index += 1
            elif top == "ansi":
                if char == "'":
                    contexts.pop()
            elif top == "double" and char == '"':
                contexts.pop()
            elif top == "double" and pair == "$(":
                contexts.append("substitution")
                index += 1
            elif top == "double" and char == "`":
                contexts.append("backtick")
            elif top == "double":
                pass
            # A plain context: the top level, a command substitution, backticks.
            elif char == "\\":
                index += 1
            elif char == "'":
                contexts.append("single")
            elif pair == "$'":
                contexts.append("ansi")
                index += 1
            elif char == '"':
                contexts.append("double")
            elif char == "(":
                contexts.append("substitution")
            elif char == ")" and top == "substitution":
                contexts.pop()
            elif char == "`":
                if top == "backtick":
                    contexts.pop()
                else:
                    contexts.append("backtick")
            elif char == "#" and word_start:
                contexts.append("comment")
            elif literal.startswith("<<<", index):
                index += 2  # a here-string: its word is expanded like any other
            elif pair == "<<":
                heredoc = True
                index += 1
            index += 1
        if name is None:
            continue
        previous = "x"  # a value is part of a word
        where = {
            "single": "inside '...'",
            "ansi": "inside $'...'",
            "double": 'inside "..."',
            "comment": "in a # comment",
        }.get(contexts[-1])
        if where is None and heredoc:
            where = "after a here-document (<<)"
        if where is not None:
            raise ValueError(
                f"{{{name}}} stands {where}; drillkit substitutes every value quoted, "
                f"as one word: write {{{name}}} bare"
            )


def _pieces(template: str) -> list[tuple[str, str | None]]:
    """The template as (literal text, placeholder name or None) pairs, in order."""
    pieces: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        if field is not None:
            if not field.isidentifier():
                raise ValueError(f"invalid placeholder {{{field}}} in {template!r}")
            if spec or conversion:
                raise ValueError(
                    f"{{{field}}} in {template!r}: no conversion or format spec, the value "
                    "is substituted as it is, quoted"
                )
        pieces.append((literal, field))
    return pieces
