"""The Kubernetes API, through the official client, and the one translation of its errors.

Everything above the drivers speaks in drillkit's terms (a node's zone, a
deployment's ready replicas). ``ApiException`` and urllib3 errors are translated
here, by ``translate_api_errors``, into ``ClusterError`` or the subclass for the
answer (``NotFound``, ``Conflict``, ``Forbidden``, ``TooManyRequests``); the other
drivers that call the API (``cluster_state``, ``workload_reads``, ``backups``,
``velero``) translate through it too, and act on those subclasses rather than on
status numbers.

Every request is bounded: ``CONNECT_TIMEOUT_SECONDS`` to connect (TLS handshake
included) and ``READ_TIMEOUT_SECONDS`` for each read of the answer, unless a call
gives its own. The client itself waits for ever on a server that accepts a
connection and never answers, and a drill that hangs holds its faults in place.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import urllib3
import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.config import kube_config
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError

from drillkit.drivers.connections import Connection
from drillkit.errors import ClusterError, Conflict, Forbidden, NotFound, TooManyRequests
from drillkit.errors import KubeconfigInvalid as KubeconfigInvalid
from drillkit.files import labs_root
from drillkit.model.activities import ZONE_LABEL as ZONE_LABEL
from drillkit.model.loading import yaml_syntax_error
from drillkit.waiting import poll_until

REGION_LABEL = "topology.kubernetes.io/region"
FIELD_MANAGER = "drillkit"
RESTARTED_AT = "drillkit.io/restarted-at"
CONNECTION_POOL_SIZE = 32
# Requests one call sends at once when it acts on many nodes (a zone of hundreds):
# enough to hide each request's round trip, well within the connection pool.
NODE_REQUEST_CONCURRENCY = 16
CONNECT_TIMEOUT_SECONDS = 10.0
"""To open a connection and finish its TLS handshake."""
READ_TIMEOUT_SECONDS = 30.0
"""Between two reads of an answer; the API server's own request timeout is 60 s, but
its answers come in well under a second unless it is stuck."""
RETRY_AFTER_CAP_SECONDS = 5.0
"""The longest wait a "429 Retry-After" answer can impose before a request is asked again."""
PAGE_SIZE = 500
"""Objects per answer of a list: a large namespace never comes back in one answer."""


class _Retry(urllib3.Retry):
    """urllib3's retries, with the server's Retry-After capped."""

    def get_retry_after(self, response: urllib3.BaseHTTPResponse) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, RETRY_AFTER_CAP_SECONDS)


# A refused or timed-out connection is tried once more (a server restarting); a read
# that timed out is not: the server took the request and did not answer, and asking
# again would only double the wait. A read told "429, Retry-After" (storage still
# initialising, or API Priority and Fairness shedding load) is asked again after the
# wait, as kubectl does, a few times; then the 429 is the answer (urllib3 leaves
# POSTs, evictions among them, to their callers).
_RETRIES = _Retry(total=5, connect=1, read=0, redirect=0, status=3, raise_on_status=False)

Manifest = Mapping[str, Any]
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class NodeState:
    """What drills need to know about one node."""

    name: str
    zone: str | None
    ready: bool
    unschedulable: bool
    taints: tuple[str, ...]
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class PodState:
    """What faults need to know about one pod."""

    namespace: str
    name: str
    uid: str
    node: str | None
    created: datetime
    owner_kind: str | None
    ready: bool
    terminating: bool
    mirror: bool
    uses_empty_dir: bool


class EvictionAnswer(StrEnum):
    """How the API server answered one eviction."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    """429 (the PodDisruptionBudget allows no disruption now) or 409 (its update
    conflicted with concurrent evictions): not evicted; retry later."""
    GONE = "gone"
    """404: the pod no longer exists."""


@dataclass(frozen=True, kw_only=True)
class WorkloadState:
    """Ready and desired replicas of a Deployment or StatefulSet; absent when deleted."""

    kind: str
    namespace: str
    name: str
    ready: int
    desired: int
    exists: bool = True


@dataclass(frozen=True, kw_only=True)
class ClusterIdentity:
    """Which cluster a connection reaches, in terms an auditor and a fault can both check.

    The API server's URL can be shared by two clusters over time (a lab recreated on the
    same port); its CA and the ``kube-system`` namespace's UID are minted when the cluster
    is created, so together they name one cluster.
    """

    server: str
    ca_sha256: str | None
    """SHA-256 of the CA bundle the kubeconfig trusts (hex), None when it trusts none."""
    kube_system_uid: str | None
    """None when this identity may not read the namespace."""


@dataclass(frozen=True, kw_only=True)
class NodeSpec:
    """A node to register (the lab's simulated machines)."""

    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    capacity: Mapping[str, str]


_BY_STATUS: Mapping[int, type[ClusterError]] = {
    401: Forbidden,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: TooManyRequests,
}
"""The answers callers act on (absent, already there, not allowed, not now), by status."""


def api_error(action: str, error: BaseException) -> ClusterError:
    """The ``ClusterError`` that a failure of the client while ``action`` means: an answer
    becomes the subclass for its status (``NotFound`` for 404, ...) carrying it and the
    reason; no answer (refused, timed out, TLS) becomes a plain one saying why."""
    if isinstance(error, (ApiException, DynamicApiError)):
        status = getattr(error, "status", None)
        reason = getattr(error, "reason", None)
        if not status:
            # Status 0: the client's own wrapping of a TLS failure, not an answer.
            return ClusterError(
                f"{action}: cannot reach the API server: {_one_line(reason or error)}"
            )
        answer = f"{action}: the API server answered {status} {reason}".rstrip()
        if status in _NEXT_STEP:
            said = _status_message(getattr(error, "body", None))
            answer += f" ({said}); {_NEXT_STEP[status]}" if said else f"; {_NEXT_STEP[status]}"
        return _BY_STATUS.get(status, ClusterError)(answer, status=status, reason=reason)
    return ClusterError(f"{action}: {describe_unreachable(error)}")


_NEXT_STEP: Mapping[int, str] = {
    401: "the cluster does not accept the kubeconfig's credentials: renew them, "
    "or choose another context with --context",
    403: "the kubeconfig's user may not do this: grant it the roles in deploy/rbac.yaml, "
    "or choose another context with --context",
}
"""What to do next, for the answers that are the user's to fix rather than the cluster's."""


def _status_message(body: object) -> str | None:
    """The ``message`` of the Status object an API server answers an error with, if any:
    it says which user may not do what (``nodes is forbidden: User "ci" cannot list...``)."""
    try:
        document = json.loads(body) if isinstance(body, (str, bytes)) else None
    except ValueError:
        return None
    message = document.get("message") if isinstance(document, dict) else None
    return _one_line(message) if isinstance(message, str) and message.strip() else None


@contextmanager
def translate_api_errors(action: str) -> Iterator[None]:
    """Turn the client's exceptions into one ``ClusterError`` line naming the action
    (see ``api_error``); drillkit's own errors pass through unchanged."""
    try:
        yield
    except (ApiException, DynamicApiError, urllib3.exceptions.HTTPError, OSError) as error:
        raise api_error(action, error) from error


def _concurrently(function: Callable[[str], T], items: Sequence[str]) -> list[T]:
    """``function`` of each item, in order, ``NODE_REQUEST_CONCURRENCY`` at once. The first
    error is raised once the calls under way have ended; those not begun are dropped."""
    if len(items) <= 1:
        return [function(item) for item in items]
    workers = min(NODE_REQUEST_CONCURRENCY, len(items))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kubernetes")
    try:
        return list(pool.map(function, items))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def list_all(list_page: Callable[..., Any], *arguments: Any, **options: Any) -> list[Any]:
    """Every item a list call of the client returns, asked for ``PAGE_SIZE`` at a time,
    each page continuing where the last ended; errors are the caller's to translate."""
    items: list[Any] = []
    token: str | None = None
    while True:
        resume = {"_continue": token} if token else {}
        page = list_page(*arguments, **options, limit=PAGE_SIZE, **resume)
        items += page.items
        token = page.metadata._continue
        if not token:
            return items


def describe_unreachable(error: BaseException) -> str:
    """``cannot reach the API server at https://…: no answer within 30 s``, from
    urllib3's nested errors (a retry error holding a timeout holding a socket error)."""
    server = None
    if isinstance(error, urllib3.exceptions.PoolError):
        pool = error.pool
        server = f"{pool.scheme}://{pool.host}:{pool.port}"
    reason: BaseException = error
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        reason = error.reason
    where = f" at {server}" if server else ""
    return f"cannot reach the API server{where}: {_why_unreachable(reason)}"


def failed_to_reach(error: BaseException, server: str) -> bool:
    """Whether ``error``, or one it was raised from, is ``server`` (an API server URL) not
    answering: refused, timed out, broken off. An answer, even an error status, is not
    that, and neither is another host failing (the service an HTTP probe calls)."""
    wanted = urlsplit(server)
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        answered = isinstance(current, urllib3.exceptions.MaxRetryError) and isinstance(
            current.reason, urllib3.exceptions.ResponseError
        )
        if isinstance(current, urllib3.exceptions.PoolError) and not answered:
            pool = current.pool
            return bool(
                pool.host == wanted.hostname
                and pool.port == (wanted.port or (443 if wanted.scheme == "https" else 80))
            )
        current = current.__cause__ or current.__context__
    return False


def _why_unreachable(reason: BaseException) -> str:
    limit = re.search(r"timeout=([0-9.]+)", str(reason))
    seconds = f" within {float(limit[1]):g} s" if limit else ""
    if isinstance(reason, urllib3.exceptions.ReadTimeoutError):
        return f"no answer{seconds}"
    if isinstance(reason, urllib3.exceptions.NameResolutionError):
        return "its host name does not resolve"
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        refused = "refused" in str(reason).lower()
        return "connection refused" if refused else f"cannot connect ({_one_line(reason)})"
    if isinstance(reason, urllib3.exceptions.ConnectTimeoutError):
        return f"no connection (TCP and TLS handshake){seconds}"
    if isinstance(reason, urllib3.exceptions.SSLError):
        return f"TLS failed ({_one_line(reason)})"
    if isinstance(reason, urllib3.exceptions.ProtocolError):
        return f"the connection broke ({_one_line(reason)})"
    return _one_line(reason)


def _default_timeout(query_params: Any) -> tuple[float, float | None]:
    """Connect and read timeouts for a request that names none: a watch may be silent for
    as long as it asked the server to keep it open (``timeoutSeconds``), then some."""
    params = dict(query_params or ())
    if params.get("watch") in (True, "true", "True"):
        seconds = params.get("timeoutSeconds")
        read = float(seconds) + READ_TIMEOUT_SECONDS if seconds is not None else None
        return CONNECT_TIMEOUT_SECONDS, read
    return CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS


def _bound_every_request() -> None:
    """Give every request of every ``ApiClient`` in this process connect and read timeouts.

    The client hands urllib3 ``timeout=None`` (wait for ever) for a call without
    ``_request_timeout``, overriding any default of the connection pool. drillkit's own
    clients are not the only ones in a run: chaostoolkit-kubernetes' activities make
    theirs, and a server that stops answering must not hang the run in one of them. So
    the default is set on the class, once, for every client made in this process.
    """
    request = client.ApiClient.request
    if getattr(request, "drillkit_bounded", False):
        return

    @functools.wraps(request)
    def bounded(
        self: client.ApiClient,
        method: str,
        url: str,
        query_params: Any = None,
        *args: Any,
        _request_timeout: Any = None,
        **kwargs: Any,
    ) -> Any:
        timeout = _request_timeout or _default_timeout(query_params)
        return request(self, method, url, query_params, *args, _request_timeout=timeout, **kwargs)

    bounded.drillkit_bounded = True  # type: ignore[attr-defined]
    client.ApiClient.request = bounded


_bound_every_request()


class Cluster(Connection):
    """A connection to one cluster as one identity (a kubeconfig context)."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self._dynamic: DynamicClient | None = None
        self.context_name: str | None = None
        """The kubeconfig context in use, for reports (None when not from a kubeconfig)."""
        self.kubeconfig_paths: list[Path] = []
        """The kubeconfig files it was made from, to name in errors."""

    @classmethod
    def connect(cls, kubeconfig: Path | None = None, context: str | None = None) -> Cluster:
        """Connect through a kubeconfig file (default: ``$KUBECONFIG`` or ``~/.kube/config``).

        A kubeconfig that cannot be read, parsed or used, or that lacks ``context``, is
        ``KubeconfigInvalid`` naming the file: the user's to fix, and nothing was touched.
        """
        paths = _kubeconfig_paths(kubeconfig)
        contexts = _read_kubeconfig_contexts(paths)
        where = ", ".join(str(p) for p in paths)
        if context is not None and context not in contexts:
            known = ", ".join(contexts) or "none"
            raise KubeconfigInvalid(f"{where}: no context named {context!r} (it has: {known})")
        configuration = client.Configuration()
        try:
            config.load_kube_config(
                config_file=os.pathsep.join(str(p) for p in paths),
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
        except (config.ConfigException, ValueError, TypeError, AttributeError, KeyError) as error:
            # The client reads the documents without checking their shape: a list where
            # a mapping belongs ends in a TypeError or an AttributeError deep inside it.
            raise KubeconfigInvalid(
                f"{where}: not a usable kubeconfig: {_one_line(error)}"
            ) from error
        except OSError as error:
            raise KubeconfigInvalid(f"{where}: cannot read a file it names: {error}") from error
        # Faults evict and delete concurrently; one pooled connection per worker.
        configuration.connection_pool_maxsize = CONNECTION_POOL_SIZE
        configuration.retries = _RETRIES
        cluster = cls(client.ApiClient(configuration))
        cluster.context_name = context or _current_context(paths)
        cluster.kubeconfig_paths = paths
        return cluster

    @classmethod
    def from_environment(cls) -> Cluster:
        """Connect as Chaos Toolkit activities do: ``KUBECONFIG`` and ``KUBERNETES_CONTEXT``.

        ``drill run`` sets both from its ``--kubeconfig`` and ``--context`` options.
        """
        kubeconfig = os.environ.get("KUBECONFIG")
        return cls.connect(
            Path(kubeconfig) if kubeconfig else None, os.environ.get("KUBERNETES_CONTEXT")
        )

    def close(self) -> None:
        self.api_client.close()

    @property
    def dynamic(self) -> DynamicClient:
        if self._dynamic is None:
            with translate_api_errors("discovering the API"):
                self._dynamic = DynamicClient(self.api_client)
        return self._dynamic

    def identity(self, *, ask: bool = True) -> ClusterIdentity:
        """The API server URL, the trusted CA's fingerprint and ``kube-system``'s UID.

        With ``ask=False`` only the kubeconfig is read (the UID is None): enough to
        tell which lab a rollback must start while its API server is down."""
        configuration = self.api_client.configuration
        ca_sha256 = None
        if configuration.ssl_ca_cert:
            ca_sha256 = hashlib.sha256(Path(configuration.ssl_ca_cert).read_bytes()).hexdigest()
        if not ask:
            return ClusterIdentity(
                server=str(configuration.host), ca_sha256=ca_sha256, kube_system_uid=None
            )
        try:
            with translate_api_errors("reading namespace kube-system"):
                uid = self.core.read_namespace("kube-system").metadata.uid
        except Forbidden as error:
            # 403: this identity may not read it, which says nothing against the cluster.
            # 401 (credentials refused) is no such answer: no other request would succeed.
            if error.status != 403:
                raise
            uid = None
        except ClusterError as error:
            if error.status is not None:
                raise
            # The first request of a run: no answer at all is most often a cluster that
            # is not up, or a kubeconfig naming another one.
            raise ClusterError(f"{error}; {self._when_unreachable()}") from error
        return ClusterIdentity(
            server=str(configuration.host), ca_sha256=ca_sha256, kube_system_uid=uid
        )

    def _when_unreachable(self) -> str:
        """What to do when the API server does not answer: start the lab, when the
        kubeconfig is one a drillkit lab wrote; otherwise check the cluster and context."""
        labs = labs_root()
        for path in self.kubeconfig_paths:
            if path.name == "kubeconfig.yaml" and path.resolve().parent.parent == labs.resolve():
                name = path.parent.name
                return f"is lab {name} up? start it with: drill lab up --name {name}"
        files = ", ".join(str(p) for p in self.kubeconfig_paths) or "the kubeconfig"
        return (
            f"is the cluster up, and is context {self.context_name} of {files} the one you meant?"
        )

    def server_version(self) -> str:
        with translate_api_errors("reading the server version"):
            info = client.VersionApi(self.api_client).get_code()
        return str(info.git_version)

    def apply(self, manifests: Iterable[Manifest]) -> None:
        """Server-side apply each manifest, in order (namespaces before what they hold)."""
        for manifest in manifests:
            kind = manifest["kind"]
            metadata = manifest.get("metadata", {})
            name = metadata.get("name")
            with translate_api_errors(f"applying {kind} {name}"):
                resource = self.dynamic.resources.get(api_version=manifest["apiVersion"], kind=kind)
                namespace = metadata.get("namespace") if resource.namespaced else None
                self.dynamic.server_side_apply(
                    resource,
                    body=dict(manifest),
                    name=name,
                    namespace=namespace,
                    field_manager=FIELD_MANAGER,
                    force_conflicts=True,
                )

    def register_node(self, spec: NodeSpec) -> None:
        """Create a node object unless it exists, with its capacity in its status."""
        body = client.V1Node(
            metadata=client.V1ObjectMeta(
                name=spec.name, labels=dict(spec.labels), annotations=dict(spec.annotations)
            )
        )
        action = f"registering node {spec.name}"
        try:
            with translate_api_errors(action):
                self.core.create_node(body)
        except Conflict:
            pass  # registered already
        with translate_api_errors(action):
            # Capacity lives in the status subresource, which a create may not keep.
            status = {"capacity": dict(spec.capacity), "allocatable": dict(spec.capacity)}
            self.core.patch_node_status(spec.name, {"status": status})

    def api_server_ready(self, *, timeout: float = 5.0) -> bool:
        """Whether ``/readyz`` answers 200: the API server runs and reaches etcd."""
        try:
            response = self.api_client.call_api(
                "/readyz",
                "GET",
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout,
            )
        except (ApiException, urllib3.exceptions.HTTPError, OSError):
            return False
        try:
            # Read to the end, or the pooled connection cannot carry the next request.
            response.read()
        except (urllib3.exceptions.HTTPError, OSError):
            return False
        finally:
            response.release_conn()
        return bool(response.status == 200)

    def may(self, verb: str, resource: str, *, group: str = "") -> bool:
        """Whether this identity may ``verb`` the cluster-wide ``resource`` (a
        SelfSubjectAccessReview: what the API server would decide, RBAC and all)."""
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb, resource=resource, group=group
                )
            )
        )
        with translate_api_errors(f"asking whether this identity may {verb} {resource}"):
            answer = client.AuthorizationV1Api(self.api_client).create_self_subject_access_review(
                review
            )
        return bool(answer.status.allowed)

    def nodes(self, label_selector: str = "") -> list[NodeState]:
        with translate_api_errors("listing nodes"):
            items = self.core.list_node(label_selector=label_selector).items
        return [_node_state(node) for node in items]

    def pods(
        self, namespace: str, *, label_selector: str = "", field_selector: str = ""
    ) -> list[PodState]:
        """Pods of one namespace (``"*"`` or ``""`` for every namespace), paginated."""
        selectors = {"label_selector": label_selector, "field_selector": field_selector}
        with translate_api_errors(f"listing pods in {namespace or 'all namespaces'}"):
            if namespace in ("", "*"):
                items = list_all(self.core.list_pod_for_all_namespaces, **selectors)
            else:
                items = list_all(self.core.list_namespaced_pod, namespace, **selectors)
        return [_pod_state(pod) for pod in items]

    def pods_on_nodes(self, nodes: Sequence[str]) -> list[PodState]:
        """Every pod bound to one of ``nodes``, node by node: one list per node, several at
        once (the API server indexes pods by node, so each is cheap)."""

        def on_node(node: str) -> list[PodState]:
            return self.pods("*", field_selector=f"spec.nodeName={node}")

        return [pod for pods in _concurrently(on_node, nodes) for pod in pods]

    def delete_pod(self, namespace: str, name: str, *, grace_period: int | None = None) -> bool:
        """Delete a pod; False when it was already gone."""
        try:
            with translate_api_errors(f"deleting pod {namespace}/{name}"):
                self.core.delete_namespaced_pod(name, namespace, grace_period_seconds=grace_period)
        except NotFound:
            return False
        return True

    def evict_pod(self, namespace: str, name: str) -> EvictionAnswer:
        """Ask the Eviction API to evict a pod, honouring PodDisruptionBudgets."""
        body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=namespace))
        try:
            with translate_api_errors(f"evicting pod {namespace}/{name}"):
                self.core.create_namespaced_pod_eviction(name, namespace, body)
        # 409: the API server gave up updating the PodDisruptionBudget under
        # concurrent evictions; the pod was not evicted, so it is safe to retry.
        except (TooManyRequests, Conflict):
            return EvictionAnswer.REFUSED
        except NotFound:
            return EvictionAnswer.GONE
        return EvictionAnswer.ACCEPTED

    def set_unschedulable(
        self, node: str, unschedulable: bool, *, annotations: Mapping[str, str | None] = {}
    ) -> None:
        """Cordon or uncordon a node, setting or removing annotations in the same patch."""
        patch: dict[str, Any] = {"spec": {"unschedulable": unschedulable or None}}
        if annotations:
            patch["metadata"] = {"annotations": dict(annotations)}
        with translate_api_errors(f"{'cordoning' if unschedulable else 'uncordoning'} node {node}"):
            self.core.patch_node(node, patch)

    def set_unschedulable_nodes(
        self,
        nodes: Sequence[str],
        unschedulable: bool,
        *,
        annotations: Mapping[str, str | None] = {},
    ) -> None:
        """``set_unschedulable`` for each of ``nodes``, several at once."""
        _concurrently(
            lambda node: self.set_unschedulable(node, unschedulable, annotations=annotations),
            nodes,
        )

    def node_annotations(self, node: str) -> dict[str, str]:
        with translate_api_errors(f"reading node {node}"):
            return dict(self.core.read_node(node).metadata.annotations or {})

    def restart_deployment(self, namespace: str, name: str, *, at: str) -> None:
        """Replace every pod of a Deployment, as ``kubectl rollout restart`` does: a new
        pod-template annotation makes a new ReplicaSet, scheduled afresh."""
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}}
        with translate_api_errors(f"restarting deployment {namespace}/{name}"):
            self.apps.patch_namespaced_deployment(name, namespace, patch)

    def deployment_rolled_out(self, namespace: str, name: str) -> bool:
        """Whether the Deployment's newest template runs on every replica, all ready, and
        no pod of an older one is left (``kubectl rollout status``'s test)."""
        with translate_api_errors(f"reading deployment {namespace}/{name}"):
            deployment = self.apps.read_namespaced_deployment(name, namespace)
        status, desired = deployment.status, deployment.spec.replicas or 0
        return (
            (status.observed_generation or 0) >= (deployment.metadata.generation or 0)
            and (status.updated_replicas or 0) == desired
            and (status.replicas or 0) == desired
            and (status.available_replicas or 0) == desired
        )

    def deployment_ready_replicas(self, namespace: str, name: str) -> tuple[int, int]:
        """``(ready, desired)`` replicas of a Deployment."""
        return self.workload_ready_replicas("Deployment", namespace, name)

    def workload_ready_replicas(self, kind: str, namespace: str, name: str) -> tuple[int, int]:
        """``(ready, desired)`` replicas of a Deployment or StatefulSet."""
        read = {
            "Deployment": self.apps.read_namespaced_deployment,
            "StatefulSet": self.apps.read_namespaced_stateful_set,
        }[kind]
        with translate_api_errors(f"reading {kind.lower()} {namespace}/{name}"):
            workload = read(name, namespace)
        return (workload.status.ready_replicas or 0, workload.spec.replicas or 0)

    def wait_for(self, description: str, condition: Callable[[], T | None], *, timeout: float) -> T:
        """Poll ``condition`` until it returns a value, tolerating API errors meanwhile."""
        last_error: ClusterError | None = None

        def tolerant() -> T | None:
            nonlocal last_error
            try:
                return condition()
            except ClusterError as error:
                last_error = error
                return None

        value = poll_until(tolerant, timeout=timeout)
        if value is not None:
            return value
        detail = f" (last error: {last_error})" if last_error else ""
        raise ClusterError(f"timed out after {timeout:.0f} s waiting for {description}{detail}")


@contextmanager
def default_kubeconfig(kubeconfig: Path | None) -> Iterator[None]:
    """While it lasts, the files ``Cluster.connect(kubeconfig)`` reads are the Kubernetes
    client's default for this process.

    The client fixes its default from ``$KUBECONFIG`` when it is first imported, and
    chaostoolkit-kubernetes' activities load that default: without this, they act on
    whatever ``$KUBECONFIG`` named when the process started, not the measured cluster.
    """
    try:
        paths = _kubeconfig_paths(kubeconfig)
    except KubeconfigInvalid:
        if kubeconfig is not None:
            raise
        # No kubeconfig anywhere (a drill that does not speak Kubernetes): nothing to name.
        yield
        return
    previous = kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = os.pathsep.join(str(p) for p in paths)
    try:
        yield
    finally:
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = previous


def _kubeconfig_paths(kubeconfig: Path | None) -> list[Path]:
    """The files a connection reads, as kubectl picks them; KubeconfigInvalid when none exists.

    ``$KUBECONFIG`` may list several files, of which the missing ones are skipped (as
    kubectl does); a file given explicitly must exist.
    """
    if kubeconfig is not None:
        if not kubeconfig.is_file():
            raise KubeconfigInvalid(f"{kubeconfig}: kubeconfig not found")
        return [kubeconfig]
    listed = os.environ.get("KUBECONFIG")
    candidates = [Path(p).expanduser() for p in (listed or "").split(os.pathsep) if p]
    if not listed:
        candidates = [Path("~/.kube/config").expanduser()]
    existing = [p for p in candidates if p.is_file()]
    if not existing:
        named = ", ".join(str(p) for p in candidates) or "(empty KUBECONFIG)"
        raise KubeconfigInvalid(f"{named}: kubeconfig not found; give one with --kubeconfig")
    return existing


def _read_kubeconfig_contexts(paths: Iterable[Path]) -> list[str]:
    """The context names of the kubeconfig files, each read and checked for its shape
    first, so a broken file gets one line naming it instead of the client's traceback."""
    names: list[str] = []
    for path in paths:
        try:
            text = path.read_bytes().decode("utf-8")
            document = yaml.safe_load(text)
        except UnicodeDecodeError as error:
            raise KubeconfigInvalid(
                f"{path}: not a kubeconfig: byte {error.start} is not UTF-8 text; "
                "is this a binary file?"
            ) from error
        except yaml.MarkedYAMLError as error:
            raise KubeconfigInvalid(str(yaml_syntax_error(path, error))) from error
        except yaml.YAMLError as error:
            raise KubeconfigInvalid(f"{path}: not a kubeconfig: {_one_line(error)}") from error
        except OSError as error:
            raise KubeconfigInvalid(
                f"{path}: cannot read the kubeconfig: {error.strerror}"
            ) from error
        if document is None:
            continue  # an empty file: kubectl skips it too
        if not isinstance(document, Mapping):
            raise KubeconfigInvalid(
                f"{path}: not a kubeconfig: expected a mapping (apiVersion, clusters, "
                f"contexts, users), found a {type(document).__name__}"
            )
        for key in ("clusters", "contexts", "users"):
            if document.get(key) is not None and not isinstance(document[key], list):
                raise KubeconfigInvalid(f"{path}: {key}: expected a list of named entries")
        names += [
            str(item["name"])
            for item in document.get("contexts") or []
            if isinstance(item, Mapping) and "name" in item
        ]
    return names


def _current_context(paths: Iterable[Path]) -> str | None:
    try:
        _, active = config.list_kube_config_contexts(
            config_file=os.pathsep.join(str(p) for p in paths)
        )
    except (config.ConfigException, OSError):
        return None
    return str(active["name"]) if active else None


def _pod_state(pod: client.V1Pod) -> PodState:
    owners = pod.metadata.owner_references or []
    controller = next((o for o in owners if o.controller), None)
    conditions = pod.status.conditions or [] if pod.status else []
    return PodState(
        namespace=pod.metadata.namespace,
        name=pod.metadata.name,
        uid=pod.metadata.uid,
        node=pod.spec.node_name,
        created=pod.metadata.creation_timestamp,
        owner_kind=controller.kind if controller else None,
        ready=any(c.type == "Ready" and c.status == "True" for c in conditions),
        terminating=pod.metadata.deletion_timestamp is not None,
        mirror="kubernetes.io/config.mirror" in (pod.metadata.annotations or {}),
        uses_empty_dir=any(v.empty_dir is not None for v in pod.spec.volumes or []),
    )


def _node_state(node: client.V1Node) -> NodeState:
    conditions = node.status.conditions or [] if node.status else []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    taints = tuple(f"{t.key}:{t.effect}" for t in (node.spec.taints or []))
    return NodeState(
        name=node.metadata.name,
        zone=(node.metadata.labels or {}).get(ZONE_LABEL),
        ready=ready,
        unschedulable=bool(node.spec.unschedulable),
        taints=taints,
        labels=dict(node.metadata.labels or {}),
        annotations=dict(node.metadata.annotations or {}),
    )


@dataclass(eq=False)
class WorkloadWatch:
    """Follows one Deployment or StatefulSet by watch, so a change is seen as it happens.

    A list gives the current state and a resourceVersion; a watch from there reports
    every change. The watch is re-established every ``relist_seconds`` and after
    410 Gone (an expired resourceVersion, e.g. after an etcd restore) by listing
    again. When the API server cannot be reached, ``on_lost`` is told, so a caller
    never mistakes a stale state for a current one.
    """

    cluster: Cluster
    _: KW_ONLY
    kind: str
    namespace: str
    name: str
    on_state: Callable[[WorkloadState], None]
    on_lost: Callable[[str], None]
    relist_seconds: int = 60
    _stop: threading.Event = field(init=False, default_factory=threading.Event, repr=False)
    _watch: watch.Watch | None = field(init=False, default=None, repr=False)
    _thread: threading.Thread | None = field(init=False, default=None, repr=False)
    _list: Callable[..., Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._list = {
            "Deployment": self.cluster.apps.list_namespaced_deployment,
            "StatefulSet": self.cluster.apps.list_namespaced_stateful_set,
        }[self.kind]

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._follow, name=f"watch-{self.namespace}-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            # Shuts the socket down, which wakes the thread blocked reading the stream.
            self._watch.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _follow(self) -> None:
        selector = f"metadata.name={self.name}"
        while not self._stop.is_set():
            try:
                listing = self._list(self.namespace, field_selector=selector)
                self.on_state(self._state(listing.items[0] if listing.items else None))
                self._watch = watch.Watch()
                for event in self._watch.stream(
                    self._list,
                    self.namespace,
                    field_selector=selector,
                    resource_version=listing.metadata.resource_version,
                    timeout_seconds=self.relist_seconds,
                    # A quiet watch sends nothing until the server ends it after
                    # relist_seconds; only a server silent beyond that is stuck.
                    _request_timeout=(
                        CONNECT_TIMEOUT_SECONDS,
                        self.relist_seconds + READ_TIMEOUT_SECONDS,
                    ),
                ):
                    if self._stop.is_set():
                        return
                    deleted = event["type"] == "DELETED"
                    self.on_state(self._state(None if deleted else event["object"]))
            except (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError) as error:
                if self._stop.is_set():
                    return
                status = getattr(error, "status", None)
                if status != 410:
                    self.on_lost(f"lost contact with the API server: {_one_line(error)}")
                    self._stop.wait(1.0)

    def _state(self, workload: Any) -> WorkloadState:
        if workload is None:
            return WorkloadState(
                kind=self.kind,
                namespace=self.namespace,
                name=self.name,
                ready=0,
                desired=0,
                exists=False,
            )
        return WorkloadState(
            kind=self.kind,
            namespace=self.namespace,
            name=self.name,
            ready=workload.status.ready_replicas or 0,
            desired=workload.spec.replicas or 0,
        )


def _one_line(error: object) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
