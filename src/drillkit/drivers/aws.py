"""Amazon EC2, through boto3.

A real cluster's zone outage stops the EC2 instances behind that zone's nodes.
This adapter knows how to find them (running instances of one availability zone
carrying the cluster tag ``kubernetes.io/cluster/<name>`` = ``owned`` or
``shared``, as kops, EKS and the AWS cloud provider set it), tag, stop and start
them, and wait for a state with a deadline. Everything above it speaks in
instance ids and states.

The region, the endpoint (``endpoint_url`` for an EC2-compatible server such as
moto on loopback) and the retry policy come from the caller or boto3's normal
chain (``AWS_REGION``, ``AWS_MAX_ATTEMPTS``, ``~/.aws/config``); so do the
credentials, which drillkit never handles itself. botocore's exceptions are
translated by ``drivers.boto``, as for S3, into ``CloudError``, one line naming
the action.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from drillkit.drivers.boto import translate_boto_errors
from drillkit.drivers.connections import Connection
from drillkit.errors import CloudError as CloudError

CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"
CLUSTER_TAG_VALUES = ("owned", "shared")

DEFAULT_POLL_INTERVAL = 5.0
"""Seconds between two looks at instance states; EC2 state changes take tens of seconds."""

# EC2 answers at most 1000 instances per page; smaller pages are only for tests.
_MAX_PAGE_SIZE = 1000
# Filters take at most 200 values each.
_FILTER_VALUES_LIMIT = 200


@dataclass(frozen=True, kw_only=True)
class InstanceState:
    """What zone faults need to know about one EC2 instance."""

    instance_id: str
    zone: str
    state: str
    """``pending``, ``running``, ``stopping``, ``stopped``, ``shutting-down`` or ``terminated``."""
    private_dns_name: str
    """The node name on clusters that name nodes after the instance's host name; may be empty."""
    tags: Mapping[str, str]


def _translate_ec2(action: str) -> AbstractContextManager[None]:
    return translate_boto_errors(action, service="EC2", raise_as=CloudError)


@dataclass(eq=False)
class Ec2(Connection):
    """A connection to EC2 in one region, as the identity boto3's credential chain finds."""

    client: Any = field(repr=False)
    """boto3's EC2 client, which the methods below call."""
    _: KW_ONLY
    region: str
    endpoint_url: str | None
    poll_interval: float = DEFAULT_POLL_INTERVAL
    page_size: int = _MAX_PAGE_SIZE

    @classmethod
    def connect(
        cls,
        region: str | None = None,
        endpoint_url: str | None = None,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        page_size: int = _MAX_PAGE_SIZE,
    ) -> Ec2:
        """Connect to ``region`` (default: boto3's chain) at ``endpoint_url`` (default: AWS's)."""
        where = f"region {region}" if region else "the default region"
        with _translate_ec2(f"connecting to EC2 in {where}"):
            session = boto3.session.Session(region_name=region)
            client = session.client(
                "ec2",
                endpoint_url=endpoint_url,
                config=botocore.config.Config(user_agent_extra="drillkit"),
            )
            resolved = client.meta.region_name
            if not resolved:
                raise botocore.exceptions.NoRegionError()
        return cls(
            client,
            region=str(resolved),
            endpoint_url=endpoint_url,
            poll_interval=poll_interval,
            page_size=page_size,
        )

    def close(self) -> None:
        self.client.close()

    # -- reading --------------------------------------------------------------------------

    def cluster_instances(
        self,
        cluster_name: str,
        zone: str,
        *,
        states: Collection[str] = ("running",),
        tags: Mapping[str, str] | None = None,
    ) -> list[InstanceState]:
        """Instances of ``cluster_name`` in availability zone ``zone``, in ``states``.

        ``tags`` narrows further (every given tag must have the given value). Sorted
        by instance id.
        """
        filters = [
            {"Name": "availability-zone", "Values": [zone]},
            {"Name": f"tag:{CLUSTER_TAG_PREFIX}{cluster_name}", "Values": [*CLUSTER_TAG_VALUES]},
            {"Name": "instance-state-name", "Values": sorted(states)},
        ]
        filters += [
            {"Name": f"tag:{key}", "Values": [value]} for key, value in (tags or {}).items()
        ]
        return self._describe(
            filters, action=f"listing the instances of cluster {cluster_name} in {zone}"
        )

    def instances(self, instance_ids: Iterable[str]) -> list[InstanceState]:
        """The instances that still exist among ``instance_ids``; gone ones are left out."""
        wanted = sorted(set(instance_ids))
        found: list[InstanceState] = []
        # A filter, unlike InstanceIds, does not fail the whole request when one of the
        # instances no longer exists (terminated ones vanish after about an hour).
        for start in range(0, len(wanted), _FILTER_VALUES_LIMIT):
            chunk = wanted[start : start + _FILTER_VALUES_LIMIT]
            found += self._describe(
                [{"Name": "instance-id", "Values": chunk}],
                action=f"reading instances {', '.join(chunk)}",
            )
        return sorted(found, key=lambda i: i.instance_id)

    def _describe(self, filters: list[dict[str, Any]], *, action: str) -> list[InstanceState]:
        found: dict[str, InstanceState] = {}
        with _translate_ec2(action):
            pages = self.client.get_paginator("describe_instances").paginate(
                Filters=filters, PaginationConfig={"PageSize": self.page_size}
            )
            for page in pages:
                for reservation in page.get("Reservations", []):
                    for item in reservation.get("Instances", []):
                        instance = _instance_state(item)
                        found[instance.instance_id] = instance
        return sorted(found.values(), key=lambda i: i.instance_id)

    # -- changing -------------------------------------------------------------------------

    def tag_instances(self, instance_ids: Sequence[str], tags: Mapping[str, str]) -> None:
        if not instance_ids or not tags:
            return
        with _translate_ec2(f"tagging instances {', '.join(instance_ids)}"):
            self.client.create_tags(
                Resources=list(instance_ids),
                Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
            )

    def untag_instances(self, instance_ids: Sequence[str], keys: Iterable[str]) -> None:
        if not instance_ids:
            return
        with _translate_ec2(f"removing tags from instances {', '.join(instance_ids)}"):
            self.client.delete_tags(
                Resources=list(instance_ids), Tags=[{"Key": key} for key in keys]
            )

    def stop_instances(self, instance_ids: Sequence[str], *, force: bool = False) -> list[str]:
        """Ask EC2 to stop the instances (never terminate); returns once it accepted.

        ``force`` skips the guest's orderly shutdown, like pulling the power cord.
        Returns the instances whose stop EC2 acknowledged.
        """
        if not instance_ids:
            return []
        with _translate_ec2(f"stopping instances {', '.join(instance_ids)}"):
            answer = self.client.stop_instances(InstanceIds=list(instance_ids), Force=force)
        return sorted(str(change["InstanceId"]) for change in answer.get("StoppingInstances", []))

    def start_instances(self, instance_ids: Sequence[str]) -> list[str]:
        """Ask EC2 to start stopped instances; returns those whose start it acknowledged."""
        if not instance_ids:
            return []
        with _translate_ec2(f"starting instances {', '.join(instance_ids)}"):
            answer = self.client.start_instances(InstanceIds=list(instance_ids))
        return sorted(str(change["InstanceId"]) for change in answer.get("StartingInstances", []))

    def wait_for_state(
        self,
        instance_ids: Sequence[str],
        state: str,
        *,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> list[InstanceState]:
        """Poll until every instance is in ``state``; ``CloudError`` naming the laggards.

        An instance that vanished or was terminated meanwhile never gets there, so it
        fails the wait at once rather than at the deadline.
        """
        wanted = sorted(set(instance_ids))
        deadline = clock() + timeout
        while True:
            current = {i.instance_id: i for i in self.instances(wanted)}
            lost = [i for i in wanted if i not in current or current[i].state == "terminated"]
            if lost:
                raise CloudError(
                    f"instances {', '.join(lost)} were terminated or vanished while waiting "
                    f"for them to be {state}"
                )
            lagging = [f"{i} ({current[i].state})" for i in wanted if current[i].state != state]
            if not lagging:
                return [current[i] for i in wanted]
            if clock() >= deadline:
                raise CloudError(
                    f"instances not {state} after {timeout:.0f} s: {', '.join(lagging)}"
                )
            sleep(min(self.poll_interval, max(0.0, deadline - clock())))


def _instance_state(item: Mapping[str, Any]) -> InstanceState:
    return InstanceState(
        instance_id=str(item["InstanceId"]),
        zone=str(item.get("Placement", {}).get("AvailabilityZone", "")),
        state=str(item.get("State", {}).get("Name", "")),
        private_dns_name=str(item.get("PrivateDnsName") or ""),
        tags={str(t["Key"]): str(t.get("Value", "")) for t in item.get("Tags", [])},
    )
