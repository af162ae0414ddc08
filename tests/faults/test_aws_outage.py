"""Zone outage on AWS, against a real EC2-compatible server: moto's, on loopback.

moto runs as its own process on 127.0.0.1 and a free port, reset before each test.
Nothing here can reach AWS: every client gets the loopback endpoint, dummy
credentials come from the environment, and the shared config files, profiles
and the instance metadata service are switched off. Undo records go to the
test's ``tmp_path``; the Kubernetes side of a record points at a kubeconfig whose
API server does not answer, so only the local state file holds it, which
``record_undo`` allows. Where a test must see what reaches EC2 and when, a small
relay sits between boto3 and moto.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from drillkit.drivers.aws import CloudError, Ec2
from drillkit.drivers.kubernetes import Cluster
from drillkit.errors import InvalidInput
from drillkit.faults.outage import end_zone_outage, zone_outage
from drillkit.faults.platforms import INJECTED_AT, START_AWS_INSTANCES, STOPPED_BY_TAG
from drillkit.model.timeline import parse_utc
from drillkit.safety.undo import UndoNotRecorded, UndoRecord, undo_action, undo_file
from tests.helpers import free_port, isolate_from_aws, running_moto_server

REGION = "eu-west-1"
ZONE_A = f"{REGION}a"
ZONE_B = f"{REGION}b"
CLUSTER = "shop"
CLUSTER_TAG = f"kubernetes.io/cluster/{CLUSTER}"
AMI = "ami-12c6146b"  # one of the images moto serves by default


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's standalone server on 127.0.0.1; its URL."""
    with running_moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials, and nothing that could send a client to real AWS."""
    isolate_from_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")


@pytest.fixture
def endpoint(moto_server: str) -> str:
    """moto's URL, its state wiped so each test sees only its own instances."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30):
        pass
    return moto_server


@pytest.fixture
def run_id(monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"test-aws-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DRILLKIT_RUN_ID", value)
    return value


@pytest.fixture
def undo_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Where the activities' undo records go (``$DRILLKIT_HOME/undo``)."""
    monkeypatch.setenv("DRILLKIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "undo"


@pytest.fixture
def unreachable_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Cluster]:
    """A kubeconfig whose API server does not answer: undo records stay local."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "gone", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "nobody", "user": {"token": "none"}}],
                "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "nobody"}}],
                "current-context": "gone",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_CONTEXT", raising=False)
    with Cluster.from_environment() as cluster:
        yield cluster


@pytest.fixture
def ec2(endpoint: str) -> Iterator[Any]:
    """A plain boto3 client on moto, for arranging and checking what the tests expect."""
    client = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint)
    yield client
    client.close()


def launch(ec2: Any, zone: str, tags: dict[str, str], count: int = 1) -> list[str]:
    """Instances in ``zone`` with ``tags``, each in a reservation of its own."""
    tag_list = [{"Key": key, "Value": value} for key, value in tags.items()]
    specifications = [{"ResourceType": "instance", "Tags": tag_list}] if tags else []
    ids = []
    for _ in range(count):
        answer = ec2.run_instances(
            ImageId=AMI,
            MinCount=1,
            MaxCount=1,
            Placement={"AvailabilityZone": zone},
            TagSpecifications=specifications,
        )
        ids += [i["InstanceId"] for i in answer["Instances"]]
    return sorted(ids)


def states(ec2: Any, ids: list[str]) -> dict[str, str]:
    answer = ec2.describe_instances(InstanceIds=ids)
    return {
        i["InstanceId"]: i["State"]["Name"] for r in answer["Reservations"] for i in r["Instances"]
    }


def tags_of(ec2: Any, instance_id: str) -> dict[str, str]:
    answer = ec2.describe_instances(InstanceIds=[instance_id])
    instance = answer["Reservations"][0]["Instances"][0]
    return {t["Key"]: t["Value"] for t in instance.get("Tags", [])}


def stored_records(undo_dir: Path, run_id: str) -> list[UndoRecord]:
    path = undo_file(undo_dir, run_id)
    if not path.exists():
        return []
    document = json.loads(path.read_text(encoding="utf-8"))
    return [UndoRecord.from_json(item) for item in document["records"]]


class Landscape:
    """Instances around the target: only ``targets`` belong to the outage of zone A."""

    def __init__(self, ec2: Any) -> None:
        self.targets = sorted(
            launch(ec2, ZONE_A, {CLUSTER_TAG: "owned"}, count=2)
            + launch(ec2, ZONE_A, {CLUSTER_TAG: "shared"})
        )
        self.other_zone = launch(ec2, ZONE_B, {CLUSTER_TAG: "owned"})
        self.untagged = launch(ec2, ZONE_A, {})
        self.other_cluster = launch(ec2, ZONE_A, {"kubernetes.io/cluster/billing": "owned"})
        # Stopped by an operator before the drill: not the drill's to stop or to start.
        self.stopped_before = launch(ec2, ZONE_A, {CLUSTER_TAG: "owned"})
        ec2.stop_instances(InstanceIds=self.stopped_before)
        self.bystanders = self.other_zone + self.untagged + self.other_cluster

    @property
    def everything(self) -> list[str]:
        return self.targets + self.bystanders + self.stopped_before


def outage_arguments(endpoint: str) -> dict[str, Any]:
    return {
        "zone": ZONE_A,
        "provider": "aws",
        "cluster_name": CLUSTER,
        "region": REGION,
        "endpoint_url": endpoint,
    }


# -- the fault and its rollback -----------------------------------------------------------


def test_zone_outage_stops_only_the_clusters_running_instances_of_the_zone_and_rollback_starts_them(
    ec2: Any, endpoint: str, run_id: str, undo_dir: Path, unreachable_cluster: Cluster
) -> None:
    landscape = Landscape(ec2)

    before = time.monotonic()
    output = zone_outage(**outage_arguments(endpoint))
    after = time.monotonic()

    assert output["stopped"] == landscape.targets
    assert output["zone"] == ZONE_A
    assert output["provider"] == "aws"
    injected = output[INJECTED_AT]
    assert isinstance(injected, dict)
    assert before <= injected["monotonic"] <= after
    assert parse_utc(injected["utc"]).tzinfo is not None
    now = states(ec2, landscape.everything)
    assert {i: now[i] for i in landscape.targets} == dict.fromkeys(landscape.targets, "stopped")
    assert {i: now[i] for i in landscape.bystanders} == dict.fromkeys(
        landscape.bystanders, "running"
    )
    assert all(tags_of(ec2, i)[STOPPED_BY_TAG] == run_id for i in landscape.targets)
    assert STOPPED_BY_TAG not in tags_of(ec2, landscape.stopped_before[0])

    rolled_back = end_zone_outage(**outage_arguments(endpoint))

    assert rolled_back["started"] == landscape.targets
    now = states(ec2, landscape.everything)
    assert all(now[i] == "running" for i in landscape.targets + landscape.bystanders)
    assert now[landscape.stopped_before[0]] == "stopped"
    assert all(STOPPED_BY_TAG not in tags_of(ec2, i) for i in landscape.targets)


def test_zone_outage_leaves_an_undo_record_naming_region_endpoint_zone_and_instances(
    ec2: Any, endpoint: str, run_id: str, undo_dir: Path, unreachable_cluster: Cluster
) -> None:
    landscape = Landscape(ec2)

    zone_outage(**outage_arguments(endpoint))

    [record] = stored_records(undo_dir, run_id)
    assert record.action == START_AWS_INSTANCES
    assert record.target == (REGION, endpoint, ZONE_A, *landscape.targets)
    assert record.cluster == "https://127.0.0.1:1"
    assert landscape.targets[0] in record.describe()


def test_rollback_twice_starts_nothing_the_second_time(
    ec2: Any, endpoint: str, run_id: str, undo_dir: Path, unreachable_cluster: Cluster
) -> None:
    landscape = Landscape(ec2)
    zone_outage(**outage_arguments(endpoint))
    end_zone_outage(**outage_arguments(endpoint))

    again = end_zone_outage(**outage_arguments(endpoint))

    assert again["started"] == []
    assert all(s == "running" for s in states(ec2, landscape.targets).values())


def test_rollback_of_another_run_starts_nothing(
    ec2: Any,
    endpoint: str,
    run_id: str,
    undo_dir: Path,
    unreachable_cluster: Cluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    landscape = Landscape(ec2)
    zone_outage(**outage_arguments(endpoint))
    monkeypatch.setenv("DRILLKIT_RUN_ID", "some-other-run")

    output = end_zone_outage(**outage_arguments(endpoint))

    assert output["started"] == []
    assert all(s == "stopped" for s in states(ec2, landscape.targets).values())


def test_zone_outage_of_an_empty_zone_stops_nothing_and_records_nothing(
    ec2: Any, endpoint: str, run_id: str, undo_dir: Path, unreachable_cluster: Cluster
) -> None:
    launch(ec2, ZONE_B, {CLUSTER_TAG: "owned"})

    output = zone_outage(**outage_arguments(endpoint))

    assert output[INJECTED_AT] is None
    assert output["stopped"] == []
    assert stored_records(undo_dir, run_id) == []


def test_cluster_instances_are_found_across_pages(ec2: Any, endpoint: str) -> None:
    expected = launch(ec2, ZONE_A, {CLUSTER_TAG: "owned"}, count=7)
    launch(ec2, ZONE_A, {}, count=3)

    # EC2's smallest page is 5; with one instance per reservation this takes pages.
    with Ec2.connect(REGION, endpoint, page_size=5) as client:
        found = client.cluster_instances(CLUSTER, ZONE_A)

    assert [i.instance_id for i in found] == expected
    assert {i.zone for i in found} == {ZONE_A}


# -- undo before harm ---------------------------------------------------------------------


class Ec2Relay:
    """An HTTP relay in front of moto that calls ``on_call(action)`` as each request arrives.

    ``on_call`` may answer the request itself with ``(status, body)``; otherwise the
    request goes on to moto unchanged.
    """

    def __init__(self, upstream: str, on_call: Callable[[str], tuple[int, bytes] | None]) -> None:
        target = urllib.parse.urlsplit(upstream)
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                action = urllib.parse.parse_qs(body.decode()).get("Action", [""])[0]
                relay.actions.append(action)
                answer = on_call(action)
                if answer is None:
                    connection = http.client.HTTPConnection(target.hostname, target.port)
                    try:
                        connection.request("POST", self.path, body, dict(self.headers))
                        response = connection.getresponse()
                        answer = (response.status, response.read())
                    finally:
                        connection.close()
                status, content = answer
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.actions: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Ec2Relay:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


UNAUTHORIZED = (
    403,
    b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
    b"<Code>UnauthorizedOperation</Code>"
    b"<Message>You are not authorized to perform this operation.\nEncoded message: x</Message>"
    b"</Error></Errors><RequestID>drillkit-test</RequestID></Response>",
)


def test_the_undo_record_is_on_disk_when_the_stop_reaches_ec2(
    ec2: Any, endpoint: str, run_id: str, undo_dir: Path, unreachable_cluster: Cluster
) -> None:
    landscape = Landscape(ec2)
    seen_at_stop: list[list[UndoRecord]] = []

    def on_call(action: str) -> None:
        if action == "StopInstances":
            seen_at_stop.append(stored_records(undo_dir, run_id))

    with Ec2Relay(endpoint, on_call) as relay:
        zone_outage(**outage_arguments(relay.url))

    [records] = seen_at_stop
    assert [r.target[3:] for r in records] == [tuple(landscape.targets)]
    # The mark is on before the stop too.
    assert relay.actions.index("CreateTags") < relay.actions.index("StopInstances")


def test_a_refused_stop_fails_in_one_line_and_recovery_then_finds_nothing_to_start(
    ec2: Any, endpoint: str, run_id: str, undo_dir: Path, unreachable_cluster: Cluster
) -> None:
    landscape = Landscape(ec2)

    def on_call(action: str) -> tuple[int, bytes] | None:
        return UNAUTHORIZED if action == "StopInstances" else None

    with Ec2Relay(endpoint, on_call) as relay:
        with pytest.raises(CloudError) as refused:
            zone_outage(**outage_arguments(relay.url))

        assert "\n" not in str(refused.value)
        assert "UnauthorizedOperation" in str(refused.value)
        assert refused.value.code == "UnauthorizedOperation"
        assert all(s == "running" for s in states(ec2, landscape.targets).values())
        # The record was written first, so a crash here would still be undone.
        [record] = stored_records(undo_dir, run_id)
        progress: list[str] = []
        reverted = undo_action(record.action).revert(record, unreachable_cluster, progress.append)

    assert reverted.changes == ()
    assert all(STOPPED_BY_TAG not in tags_of(ec2, i) for i in landscape.targets)


def test_nothing_is_stopped_when_the_undo_cannot_be_recorded(
    ec2: Any,
    endpoint: str,
    run_id: str,
    tmp_path: Path,
    unreachable_cluster: Cluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    landscape = Landscape(ec2)
    # The state directory cannot be created under a file, and the cluster does not answer.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("DRILLKIT_HOME", str(blocker))

    with pytest.raises(UndoNotRecorded):
        zone_outage(**outage_arguments(endpoint))

    assert all(s == "running" for s in states(ec2, landscape.targets).values())
    assert all(STOPPED_BY_TAG not in tags_of(ec2, i) for i in landscape.targets)


# -- recovery after a crash ---------------------------------------------------------------


def test_recovery_starts_what_a_dead_run_stopped_and_is_harmless_the_second_time(
    ec2: Any, endpoint: str, run_id: str, undo_dir: Path, unreachable_cluster: Cluster
) -> None:
    landscape = Landscape(ec2)
    zone_outage(**outage_arguments(endpoint))
    # The run dies here: no rollback. Recovery has only the record.
    [record] = stored_records(undo_dir, run_id)
    revert = undo_action(START_AWS_INSTANCES).revert
    progress: list[str] = []

    first = revert(record, unreachable_cluster, progress.append)
    second = revert(record, unreachable_cluster, progress.append)

    assert first.changes == tuple(f"started instance {i}" for i in landscape.targets)
    assert second.changes == ()
    now = states(ec2, landscape.everything)
    assert all(now[i] == "running" for i in landscape.targets)
    assert now[landscape.stopped_before[0]] == "stopped"
    assert all(STOPPED_BY_TAG not in tags_of(ec2, i) for i in landscape.targets)


def test_recovery_leaves_alone_instances_stopped_by_someone_else_or_terminated(
    ec2: Any, endpoint: str, run_id: str, undo_dir: Path, unreachable_cluster: Cluster
) -> None:
    landscape = Landscape(ec2)
    zone_outage(**outage_arguments(endpoint))
    [record] = stored_records(undo_dir, run_id)
    restarted_by_operator, replaced, ours = landscape.targets
    # Meanwhile an operator started one instance, unmarked it and stopped it again, and
    # an Auto Scaling group terminated another.
    ec2.start_instances(InstanceIds=[restarted_by_operator])
    ec2.delete_tags(Resources=[restarted_by_operator], Tags=[{"Key": STOPPED_BY_TAG}])
    ec2.stop_instances(InstanceIds=[restarted_by_operator])
    ec2.terminate_instances(InstanceIds=[replaced])

    reverted = undo_action(START_AWS_INSTANCES).revert(record, unreachable_cluster, print)

    assert reverted.changes == (f"started instance {ours}",)
    assert len(reverted.notes) == 2
    assert any(restarted_by_operator in n and "someone else" in n for n in reverted.notes)
    assert any(replaced in n and "terminated" in n for n in reverted.notes)
    now = states(ec2, [restarted_by_operator, replaced, ours])
    assert now == {restarted_by_operator: "stopped", replaced: "terminated", ours: "running"}


# -- errors -------------------------------------------------------------------------------


def assert_one_line(error: Exception, *fragments: str) -> None:
    message = str(error)
    assert message and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_an_unreachable_endpoint_is_one_line_and_nothing_is_recorded(
    run_id: str, undo_dir: Path, unreachable_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    closed = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(CloudError) as failed:
        zone_outage(**outage_arguments(closed))

    assert_one_line(failed.value, "cannot reach the EC2 endpoint", ZONE_A)
    assert stored_records(undo_dir, run_id) == []


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("not a region!", "not a region!"),
        (None, "no AWS region given"),
    ],
    ids=["invalid-name", "missing"],
)
def test_a_bad_or_missing_region_is_one_line(
    endpoint: str, region: str | None, expected: str
) -> None:
    with pytest.raises(CloudError) as failed:
        Ec2.connect(region, endpoint)

    assert_one_line(failed.value, expected)


def test_missing_credentials_are_one_line(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)

    with Ec2.connect(REGION, endpoint) as client, pytest.raises(CloudError) as failed:
        client.cluster_instances(CLUSTER, ZONE_A)

    assert_one_line(failed.value, "no AWS credentials")


def test_waiting_for_a_state_names_the_instances_still_elsewhere_at_the_deadline(
    ec2: Any, endpoint: str
) -> None:
    running = launch(ec2, ZONE_A, {CLUSTER_TAG: "owned"}, count=2)

    with Ec2.connect(REGION, endpoint) as client, pytest.raises(CloudError) as failed:
        client.wait_for_state(running, "stopped", timeout=0.0)

    assert_one_line(failed.value, "not stopped after 0 s", f"{running[0]} (running)")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"provider": "gcp"}, "must be one of aws, lab"),
        ({"provider": "aws", "cluster_name": None}, "needs cluster_name"),
    ],
    ids=["unknown-provider", "aws-without-cluster"],
)
def test_invalid_arguments_are_refused_before_anything_is_touched(
    endpoint: str, arguments: dict[str, Any], expected: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        zone_outage(**{**outage_arguments(endpoint), **arguments})

    assert_one_line(refused.value, expected)
