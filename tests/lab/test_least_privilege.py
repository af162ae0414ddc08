"""The runner's least privilege holds on the API server, not only in drillkit's own checks.

Each test acts as the lab's ``drillkit-runner`` identity against the real API server:
pod deletion and eviction are allowed only in namespaces bound with ``drill lab grant
drillkit-runner --namespace NS``, and the ValidatingAdmissionPolicy of
deploy/node-guardrails.yaml lets its node patches do nothing but cordon, uncordon and
set drillkit's own annotation. Where a forbidden change would get through, the test
reverts it as the administrator so the shared lab stays whole either way.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from drillkit.drivers.kubernetes import ZONE_LABEL, Cluster
from drillkit.lab import access
from drillkit.lab.cluster import Lab, load_manifests
from drillkit.lab.resources import deploy_dir
from drillkit.safety.undo import CORDONED_BY
from tests.drills.support import run_cli
from tests.helpers import wait_until

pytestmark = pytest.mark.lab


def refused(call: Callable[[], Any]) -> ApiException:
    """The API server's refusal of ``call``; fails the test when it is accepted."""
    with pytest.raises(ApiException) as raised:
        call()
    return raised.value


def bare_pod(lab: Lab, namespace: str) -> str:
    """A running pod of no controller in ``namespace``, created by the administrator."""
    name = f"probe-{uuid.uuid4().hex[:6]}"
    body = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, namespace=namespace),
        spec=client.V1PodSpec(
            containers=[client.V1Container(name="probe", image="registry.invalid/probe:1")]
        ),
    )
    with lab.connect() as admin:
        admin.core.create_namespaced_pod(namespace, body)
        wait_until(
            f"pod {namespace}/{name} to be scheduled",
            lambda: bool(admin.core.read_namespaced_pod(name, namespace).spec.node_name),
        )
    return name


def may(cluster: Cluster, verb: str, resource: str, *, namespace: str) -> bool:
    """What the API server's authorizer answers this identity for ``verb resource`` in
    ``namespace`` (``pods/eviction`` names a subresource)."""
    name, _, subresource = resource.partition("/")
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                verb=verb, resource=name, subresource=subresource or None, namespace=namespace
            )
        )
    )
    answer = client.AuthorizationV1Api(cluster.api_client).create_self_subject_access_review(review)
    return bool(answer.status.allowed)


def delete_if_present(cluster: Cluster, namespace: str, pod: str) -> None:
    try:
        cluster.core.delete_namespaced_pod(pod, namespace, grace_period_seconds=0)
    except ApiException as error:
        if error.status != 404:
            raise


@pytest.fixture
def node(lab: Lab) -> Iterator[str]:
    """A node of zone-a; its labels, taints and cordon are put back afterwards."""
    with lab.connect() as admin:
        name = admin.nodes(f"{ZONE_LABEL}=zone-a")[0].name
        before = admin.core.read_node(name)
    yield name
    with lab.connect() as admin:
        admin.core.patch_node(
            name,
            {
                "metadata": {"labels": {ZONE_LABEL: before.metadata.labels[ZONE_LABEL]}},
                "spec": {
                    "taints": [t.to_dict() for t in before.spec.taints or []] or None,
                    "unschedulable": before.spec.unschedulable,
                },
            },
        )


@pytest.fixture
def unbound_namespace(lab: Lab) -> Iterator[str]:
    """A namespace no drill targets: nothing binds the runner there."""
    name = f"u-{uuid.uuid4().hex[:8]}"
    with lab.connect() as admin:
        admin.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    with lab.connect() as admin:
        admin.core.delete_namespace(name)


def checked(policy: client.V1ValidatingAdmissionPolicy) -> Any:
    status = policy.status
    done = status is not None and status.observed_generation == policy.metadata.generation
    return policy if done and status.type_checking is not None else None


def test_the_lab_serves_the_node_guardrail_policy_in_admissionregistration_v1(lab: Lab) -> None:
    with lab.connect() as admin:
        version = client.VersionApi(admin.api_client).get_code()
        api = client.AdmissionregistrationV1Api(admin.api_client)
        policy = wait_until(
            "the API server to type-check the node guardrail policy",
            lambda: checked(api.read_validating_admission_policy("drillkit-runner-node-patches")),
        )
        binding = api.read_validating_admission_policy_binding("drillkit-runner-node-patches")
    assert (int(version.major), int(version.minor.rstrip("+"))) >= (1, 30)
    assert binding.spec.policy_name == policy.metadata.name
    assert binding.spec.validation_actions == ["Deny"]
    # The API server type-checked every expression against Node: a typo would only
    # warn here, and fail every request at admission.
    assert policy.status.type_checking.expression_warnings is None


def test_the_runner_may_not_delete_a_pod_in_kube_system(lab: Lab) -> None:
    pod = bare_pod(lab, "kube-system")
    try:
        with lab.connect(admin=False) as runner:
            error = refused(
                lambda: runner.core.delete_namespaced_pod(
                    pod, "kube-system", grace_period_seconds=0
                )
            )
            assert error.status == 403
            eviction = client.V1Eviction(
                metadata=client.V1ObjectMeta(name=pod, namespace="kube-system")
            )
            error = refused(
                lambda: runner.core.create_namespaced_pod_eviction(pod, "kube-system", eviction)
            )
            assert error.status == 403
    finally:
        with lab.connect() as admin:
            delete_if_present(admin, "kube-system", pod)


def test_pod_deletion_is_granted_per_namespace_with_drill_lab_grant(
    lab: Lab, unbound_namespace: str
) -> None:
    pod = bare_pod(lab, unbound_namespace)
    with lab.connect(admin=False) as runner:
        error = refused(lambda: runner.core.delete_namespaced_pod(pod, unbound_namespace))
        assert error.status == 403

    granted = run_cli(
        dict(os.environ),
        *("lab", "grant", "drillkit-runner", "--namespace", unbound_namespace),
        *("--name", lab.shape.name),
    )

    assert granted.returncode == 0, granted.stderr
    assert unbound_namespace in granted.stdout
    with lab.connect() as admin:
        rbac = client.RbacAuthorizationV1Api(admin.api_client)
        binding = rbac.read_namespaced_role_binding("drillkit-runner", unbound_namespace)
        assert binding.role_ref.kind == "ClusterRole"
        assert binding.role_ref.name == "drillkit-runner"
        names = {b.metadata.name for b in rbac.list_cluster_role_binding().items}
        assert not any(n.startswith("drillkit-runner-") and unbound_namespace in n for n in names)
    with lab.connect(admin=False) as runner:
        eviction = client.V1Eviction(
            metadata=client.V1ObjectMeta(name=pod, namespace=unbound_namespace)
        )
        runner.core.create_namespaced_pod_eviction(pod, unbound_namespace, eviction)
        # Still nothing in kube-system: the grant is the namespace's alone.
        assert not may(runner, "delete", "pods", namespace="kube-system")
        assert may(runner, "delete", "pods", namespace=unbound_namespace)


def test_the_seed_namespace_is_bound_for_the_runner(lab: Lab) -> None:
    with lab.connect(admin=False) as runner:
        assert may(runner, "delete", "pods", namespace="shop")
        assert may(runner, "create", "pods/eviction", namespace="shop")
        assert not may(runner, "delete", "pods", namespace="default")


def test_the_runner_may_not_move_a_node_to_another_zone(lab: Lab, node: str) -> None:
    with lab.connect(admin=False) as runner:
        error = refused(
            lambda: runner.core.patch_node(node, {"metadata": {"labels": {ZONE_LABEL: "zone-b"}}})
        )
    assert error.status == 403
    assert "drillkit-runner-node-patches" in str(error.body)
    with lab.connect() as admin:
        assert admin.core.read_node(node).metadata.labels[ZONE_LABEL] == "zone-a"


def test_the_runner_may_not_taint_a_node_noexecute(lab: Lab, node: str) -> None:
    taint = {"key": "drillkit.io/probe", "value": "x", "effect": "NoExecute"}
    with lab.connect(admin=False) as runner:
        error = refused(lambda: runner.core.patch_node(node, {"spec": {"taints": [taint]}}))
    assert error.status == 403
    assert "drillkit-runner-node-patches" in str(error.body)
    with lab.connect() as admin:
        taints = admin.core.read_node(node).spec.taints or []
    assert not [t for t in taints if t.key == "drillkit.io/probe"]


def test_the_runner_may_not_set_other_annotations_on_a_node(lab: Lab, node: str) -> None:
    with lab.connect(admin=False) as runner:
        error = refused(
            lambda: runner.core.patch_node(
                node, {"metadata": {"annotations": {"example.com/owner": "drillkit"}}}
            )
        )
    assert error.status == 403


def test_the_runner_still_cordons_uncordons_and_annotates_as_drills_do(lab: Lab, node: str) -> None:
    with lab.connect(admin=False) as runner:
        runner.set_unschedulable(node, True, annotations={CORDONED_BY: "run-probe"})
        cordoned = runner.core.read_node(node)
        assert cordoned.spec.unschedulable is True
        assert cordoned.metadata.annotations[CORDONED_BY] == "run-probe"

        runner.set_unschedulable(node, False, annotations={CORDONED_BY: None})
        uncordoned = runner.core.read_node(node)
    assert not uncordoned.spec.unschedulable
    assert CORDONED_BY not in (uncordoned.metadata.annotations or {})


def test_a_cluster_wide_grant_of_pod_deletion_is_refused_and_nothing_is_bound(lab: Lab) -> None:
    environment = dict(os.environ)

    cluster_wide = run_cli(environment, "lab", "grant", "drillkit-runner", "--name", lab.shape.name)
    no_such = run_cli(
        environment,
        *("lab", "grant", "drillkit-runner", "--namespace", "no-such-namespace"),
        *("--name", lab.shape.name),
    )

    assert cluster_wide.returncode == 2
    assert "per namespace" in cluster_wide.stderr
    assert no_such.returncode == 2
    assert "no namespace no-such-namespace" in no_such.stderr
    with lab.connect() as admin:
        rbac = client.RbacAuthorizationV1Api(admin.api_client)
        bindings = rbac.list_cluster_role_binding().items
    assert not [b for b in bindings if b.role_ref.name == "drillkit-runner"]


def test_starting_a_lab_removes_the_cluster_wide_binding_of_older_drillkits(lab: Lab) -> None:
    old_binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "drillkit-runner"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "drillkit-runner",
        },
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "drillkit-runner"}
        ],
    }
    with lab.connect() as admin:
        admin.apply([old_binding])
    with lab.connect(admin=False) as runner:
        assert may(runner, "delete", "pods", namespace="kube-system")

    with lab.connect() as admin:
        access.install(admin, load_manifests(deploy_dir()))

    with lab.connect(admin=False) as runner:
        assert not may(runner, "delete", "pods", namespace="kube-system")
        assert may(runner, "delete", "pods", namespace="shop")
