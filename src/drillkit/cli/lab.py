"""``drill lab``: build, start, stop and inspect the local control plane."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from drillkit.cli.completing import complete_labs
from drillkit.cli.options import context_option, kubeconfig_option, output_option
from drillkit.cli.output import echo_json, progress_printer

if TYPE_CHECKING:
    from drillkit.cli.documents import LabDocument
    from drillkit.lab.cluster import Lab, LabStatus

DEFAULT_LAB = "local"
# The lab a command acts on, completed from the labs on this machine.
lab_name_option = click.option(
    "--name", default=DEFAULT_LAB, show_default=True, shell_complete=complete_labs
)


@click.group()
def lab() -> None:
    """A real Kubernetes control plane on this machine, for demos and tests.

    \b
    etcd, kube-apiserver, kube-controller-manager and kube-scheduler run as local
    processes on 127.0.0.1; nodes and pods are simulated by kwok, one kwok per zone,
    so stopping a zone's kwok is an abrupt zone outage. Binaries are built once
    from the Go module proxy and cached under ~/.cache/drillkit. With --real-nodes 1
    a kubelet, containerd and runc run real containers too (shop/web-real).

    \b
    Typical use:
      drill lab up                                  # 3 zones x 2 nodes, seed workload shop/web
      export KUBECONFIG=$(drill lab kubeconfig | tail -1)
      drill lab up --name region-b --region region-b   # a second lab beside the first
      drill lab up --name real --real-nodes 1       # and a real node, for drill run pod-kill-real
      drill lab down
    """


@lab.command()
def build() -> None:
    """Build the lab binaries (Kubernetes, etcd, kwok) if they are not cached yet.

    The first build downloads modules and compiles for several minutes; later
    runs return at once. `drill lab up` builds automatically.
    """
    from drillkit.lab import build as building

    directory = building.ensure_binaries(progress_printer())
    click.echo(f"lab binaries: {directory}")


@lab.command()
@click.option(
    "--name",
    default=DEFAULT_LAB,
    show_default=True,
    help="Lab name; one directory each.",
    shell_complete=complete_labs,
)
@click.option("--zones", default=3, show_default=True, type=click.IntRange(1, 26))
@click.option("--nodes-per-zone", default=2, show_default=True, type=click.IntRange(1, 500))
@click.option(
    "--region", default=None, help="Value of topology.kubernetes.io/region (default: the name)."
)
@click.option(
    "--etcd-members",
    default=1,
    show_default=True,
    type=click.Choice(["1", "3", "5"]),
    help="Members of the lab's etcd cluster; 3 allows quorum-loss drills.",
)
@click.option(
    "--empty",
    is_flag=True,
    help="Without the seed workload (shop): a standby region to restore into.",
)
@click.option(
    "--seed-replicas",
    default=6,
    show_default=True,
    type=click.IntRange(1),
    help="Replicas of the seed's shop/web (8 fit on a node); its PodDisruptionBudget "
    "keeps two thirds available. With --nodes-per-zone, a lab at scale: "
    "--nodes-per-zone 334 --seed-replicas 3006 is 1,002 nodes holding 3 pods each.",
)
@click.option(
    "--real-nodes",
    default=0,
    show_default=True,
    type=click.IntRange(0, 1),
    help="Real nodes (kubelet, containerd, runc on this machine, tainted "
    "drillkit.io/real-node) beside the kwok nodes; the seed adds shop/web-real on it, "
    "a web server in a real container. The first use builds kubelet and containerd.",
)
def up(
    name: str,
    zones: int,
    nodes_per_zone: int,
    region: str | None,
    etcd_members: str,
    empty: bool,
    seed_replicas: int,
    real_nodes: int,
) -> None:
    """Start a lab and wait until its nodes are Ready and shop/web is available.

    Running it on a lab that is up changes nothing. A lab whose processes died is
    restarted cleanly, keeping its data. The shape (zones, nodes, etcd members, seed
    replicas) is fixed when a lab is first created.

    \b
    Examples:
      drill lab up --zones 2 --nodes-per-zone 3
      drill lab up --name big --nodes-per-zone 334 --seed-replicas 3006   # 1,002 nodes
    """
    from drillkit.lab.cluster import Lab, LabShape

    shape = LabShape(
        name=name,
        region=region or name,
        zones=zones,
        nodes_per_zone=nodes_per_zone,
        etcd_members=int(etcd_members),
        seed=not empty,
        seed_replicas=seed_replicas,
        real_nodes=real_nodes,
    )
    instance = Lab.create(shape)
    started = instance.up(progress_printer(f"{name}: "))
    if not started:
        click.echo(f"lab {name!r} is already running; nothing to do.")
    _print_status(instance)


@lab.command()
@click.argument("role")
@click.option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    help="Bind ROLE in this namespace only (a RoleBinding); repeat for several.",
)
@lab_name_option
def grant(role: str, namespaces: tuple[str, ...], name: str) -> None:
    """Give the lab's drillkit-runner identity the ClusterRole ROLE.

    With --namespace, ROLE is bound in those namespaces only (a RoleBinding named
    ROLE), as drills' disruptive rights should be; without, cluster-wide. Drills run as
    drillkit-runner, which holds only what deploy/rbac.yaml grants: it reads
    cluster-wide and cordons nodes, and deletes or evicts pods only in namespaces
    where drillkit-runner is bound (the lab binds shop itself):

    \b
      drill lab grant drillkit-runner --namespace payments

    The cross-region-restore drill also needs drillkit-backup-reader where it backs
    up and drillkit-restorer where it restores:

    \b
      drill lab grant drillkit-backup-reader --name region-a
      drill lab grant drillkit-restorer --name region-b
    """
    from drillkit.lab.cluster import Lab

    Lab.open(name).grant(role, namespaces)
    where = f"in namespace {', '.join(namespaces)}" if namespaces else "cluster-wide"
    click.echo(f"lab {name}: drillkit-runner has the ClusterRole {role} {where}")


@lab.command()
@click.option(
    "--name",
    default=None,
    shell_complete=complete_labs,
    help="The lab [default: the one the kubeconfig reaches, as the drills find it; "
    f"without a kubeconfig, {DEFAULT_LAB}].",
)
@kubeconfig_option
@context_option()
def reset(name: str | None, kubeconfig: Path | None, context: str | None) -> None:
    """Spread the seed workload shop/web over every zone again.

    A drained or darkened zone stays empty after its drill rolls back (nothing moves
    pods back), so the next drill on that zone would land on no pod of shop/web and
    be inconclusive. This restarts shop/web and waits until it is rolled out:

    \b
      drill run zone-failure
      drill lab reset
      drill run zone-outage
    """
    from drillkit.lab.cluster import Lab

    chosen = Lab.open(name) if name else _lab_of_kubeconfig(kubeconfig, context)
    chosen.reset(progress_printer())
    click.echo(f"lab {chosen.shape.name}: shop/web restarted and spread over every zone")


def _lab_of_kubeconfig(kubeconfig: Path | None, context: str | None) -> Lab:
    """The lab the kubeconfig reaches (read from the file alone), as lab faults find it;
    the default lab when there is no kubeconfig at all."""
    from drillkit.drivers.kubernetes import Cluster, KubeconfigInvalid
    from drillkit.lab.cluster import Lab, lab_reached_by

    try:
        connection = Cluster.connect(kubeconfig, context)
    except KubeconfigInvalid:
        if kubeconfig is not None:
            raise
        return Lab.open(DEFAULT_LAB)
    with connection as cluster:
        return lab_reached_by(cluster.identity(ask=False))


@lab.command()
@lab_name_option
@click.option("--purge", is_flag=True, help="Also delete the lab's directory (data, PKI, logs).")
def down(name: str, purge: bool) -> None:
    """Stop every process of a lab and free its ports."""
    from drillkit.lab.cluster import Lab

    instance = Lab.open(name)
    instance.down(progress_printer(f"{name}: "))
    if purge:
        instance.purge()
        click.echo(f"lab {name!r} stopped and deleted")
    else:
        click.echo(f"lab {name!r} stopped (data kept in {instance.directory})")


@lab.command()
@click.option(
    "--name",
    default=None,
    help="One lab (default: every lab on this machine).",
    shell_complete=complete_labs,
)
@output_option("a list of labs (empty without one): state, api_server, components, zones.")
def status(name: str | None, output: str) -> None:
    """Show each lab's components, ports and nodes per zone."""
    from drillkit.lab.cluster import Lab

    names = [name] if name else Lab.names()
    if output == "json":
        echo_json([_status_json(Lab.open(each)) for each in names])
        return
    if not names:
        click.echo("no labs; start one with: drill lab up")
    for each in names:
        _print_status(Lab.open(each))


@lab.command()
@lab_name_option
def kubeconfig(name: str) -> None:
    """Print the path of a lab's kubeconfig (on the last line, for scripts).

    The file has two contexts: <name>-runner (current; the least-privilege
    drillkit-runner identity) and <name>-admin (system:masters).
    """
    from drillkit.lab.cluster import Lab

    instance = Lab.open(name)
    click.echo(str(instance.kubeconfig))


@lab.command()
@click.argument("component_name", metavar="COMPONENT")
@click.argument("operation", type=click.Choice(["start", "stop", "kill", "wait"]))
@lab_name_option
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for readiness.")
def component(component_name: str, operation: str, name: str, timeout: float) -> None:
    """Start, stop, kill -9 or wait for one process of a lab.

    COMPONENT is etcd (etcd-1, etcd-2 with three members), kube-apiserver,
    kube-controller-manager, kube-scheduler, kwok-<zone>, and on a lab with a real
    node containerd and kubelet. `start` launches it
    and returns (etcd members of a cluster must all be started before any is
    healthy); `wait` returns once it answers its health check; `stop` is SIGTERM
    (SIGKILL after 15 s); `kill` is SIGKILL, as a crash would be. These are the
    steps the lab's etcd restore procedure declares.

    \b
    Examples:
      drill lab component kube-apiserver stop
      drill lab component etcd start --name region-a && drill lab component etcd wait
    """
    from drillkit.lab.cluster import Lab

    item = Lab.open(name).component(component_name)
    if operation == "start":
        item.start()
    elif operation == "wait":
        item.wait_ready(timeout=timeout)
    elif operation == "stop":
        item.stop()
    else:
        item.kill()
    click.echo(f"{component_name} of lab {name}: {operation} done")


@lab.command("load-image")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@lab_name_option
def load_image(archive: Path, name: str) -> None:
    """Load an image archive (OCI or docker, e.g. scripts/image's) into a lab's real node.

    Pods on the real node cannot pull from any registry: they name a loaded image
    with imagePullPolicy: Never. Images are kept until `drill lab down`.

    \b
    Example:
      scripts/image --output drillkit.oci.tar
      drill lab load-image drillkit.oci.tar --name local
    """
    from drillkit.errors import InvalidInput
    from drillkit.lab.cluster import Lab

    real_node = Lab.open(name).real_node
    if real_node is None:
        raise InvalidInput(
            f"lab {name!r} has no real node to load an image into; "
            f"create one with: drill lab up --name {name} --real-nodes 1"
        )
    click.echo(real_node.load_image(archive))


def _overall(state: LabStatus) -> Literal["running", "stopped", "degraded"]:
    return "running" if state.running else ("stopped" if state.stopped else "degraded")


def _status_json(instance: Lab) -> LabDocument:
    state = instance.status()
    return {
        "name": state.name,
        "state": _overall(state),
        "region": instance.shape.region,
        "api_server": state.api_server,
        "directory": str(state.directory),
        "kubeconfig": str(state.kubeconfig),
        "components": [
            {
                "name": component.name,
                "pid": component.pid,
                "ready": component.ready,
                "ports": list(component.ports),
                "resident_bytes": component.resident_bytes,
            }
            for component in state.components
        ],
        "zones": [
            {"zone": zone, "ready_nodes": ready, "nodes": total}
            for zone, (ready, total) in state.nodes_per_zone().items()
        ],
        "real_nodes": [{"name": each.name, "ready": each.ready} for each in state.real_nodes],
    }


def _print_status(instance: Lab) -> None:
    state = instance.status()
    click.echo(f"lab {state.name} ({_overall(state)}), region {instance.shape.region}")
    click.echo(f"  api server   {state.api_server}")
    click.echo(f"  directory    {state.directory}")
    for component in state.components:
        pid = f"pid {component.pid}" if component.pid else "stopped"
        ports = ",".join(str(p) for p in component.ports)
        health = "ready" if component.ready else "not ready"
        memory = _mebibytes(component.resident_bytes)
        click.echo(f"  {component.name:<24} {pid:<11} {health:<10} {memory:>8}  port {ports}")
    resident = [c.resident_bytes for c in state.components if c.resident_bytes is not None]
    if resident:
        click.echo(f"  {'memory (resident)':<24} {_mebibytes(sum(resident))} in all")
    for zone, (ready, total) in state.nodes_per_zone().items():
        click.echo(f"  {zone:<24} {ready}/{total} nodes Ready")
    for each in state.real_nodes:
        click.echo(f"  real node {each.name:<14} {'Ready' if each.ready else 'not Ready'}")
    click.echo(f"  kubeconfig   {state.kubeconfig}")


def _mebibytes(count: int | None) -> str:
    return "-" if count is None else f"{count / 2**20:.0f} MiB"
