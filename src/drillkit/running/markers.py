"""RPO markers: a writer that stamps data into the protected store, and a reader.

Every ``interval`` the writer replaces a ConfigMap's data with the next sequence
number (through the API server, the path the application's data takes) and
records ``MarkerWritten`` with the monotonic instant the write was acknowledged.
After recovery the reader looks for the newest sequence of this run that survived;
``measure_rpo`` turns both into the RPO. The reader looks where the markers were
written, unless the drill says they come back elsewhere (``markers.read_from``: the
cluster and namespace a cross-region restore writes into). A write that fails (the API server is
down during the disaster) is simply not recorded: it did not happen. A write that
finds the marker changed or gone under it (a restore brought back older data) stops
the writer, so that what survived is still there when the reader looks.
"""

from __future__ import annotations

import threading
from pathlib import Path

from drillkit.drivers.cluster_state import (
    create_config_map,
    read_config_map,
    replace_config_map,
)
from drillkit.drivers.kubernetes import Cluster
from drillkit.errors import ClusterError, Conflict, NotFound
from drillkit.model.drill import Markers
from drillkit.model.timeline import MarkersRead, MarkerWritten
from drillkit.running.recorder import TimelineRecorder

_LABELS = {"app.kubernetes.io/managed-by": "drillkit", "app.kubernetes.io/component": "rpo-marker"}


class MarkerWriter:
    """Writes marker ``(run, sequence)`` into a ConfigMap every interval, in a thread."""

    def __init__(
        self,
        cluster: Cluster,
        markers: Markers,
        *,
        run_id: str,
        recorder: TimelineRecorder,
        reader: Cluster | None = None,
    ) -> None:
        self.cluster = cluster
        self.reader = reader
        """Where ``read_back`` reads (``markers.read_from``); None: ``cluster``."""
        self.read_namespace = (
            markers.read_from.namespace if markers.read_from else None
        ) or markers.store.namespace
        self.namespace = markers.store.namespace
        self.name = markers.store.name
        self.interval = markers.interval.total_seconds()
        self.run_id = run_id
        self.recorder = recorder
        self.written = 0
        self._sequence = 0
        self._version: str | None = None
        self._stop = threading.Event()
        self._first = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="drillkit-markers", daemon=True)

    def start(self, *, first_write_timeout: float = 30.0) -> None:
        """Start writing and wait (bounded) for the first acknowledged marker, so the
        record starts before the fault."""
        self._thread.start()
        self._first.wait(first_write_timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=30)

    def read_back(self, *, backup_age_seconds: float | None = None) -> None:
        """Record the newest marker of this run that the store holds now, and the age
        of the backup or snapshot the data was restored from, when there was one."""
        newest: int | None = None
        try:
            current = read_config_map(self.reader or self.cluster, self.read_namespace, self.name)
        except ClusterError:
            current = None
        if current is not None and current.data.get("run_id") == self.run_id:
            newest = int(current.data.get("sequence", "0")) or None
        self.recorder.record(
            MarkersRead(
                at=self.recorder.now(),
                newest_sequence=newest,
                backup_age_seconds=backup_age_seconds,
            )
        )

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._write_next()
            self._stop.wait(self.interval)

    def _write_next(self) -> None:
        sequence = self._sequence + 1
        data = {"run_id": self.run_id, "sequence": str(sequence)}
        try:
            if self._version is None:
                try:
                    record = create_config_map(
                        self.cluster, self.namespace, self.name, data=data, labels=_LABELS
                    )
                except Conflict:
                    existing = read_config_map(self.cluster, self.namespace, self.name)
                    if existing is None:
                        return
                    self._version = existing.resource_version
                    return self._write_next()
            else:
                record = replace_config_map(
                    self.cluster,
                    self.namespace,
                    self.name,
                    data=data,
                    labels=_LABELS,
                    resource_version=self._version,
                )
        except (Conflict, NotFound):
            # The marker changed or vanished under us: a restore brought back older
            # data. Writing on would overwrite what survived before the reader sees it.
            self._stop.set()
            return
        except ClusterError:
            return
        acknowledged = self.recorder.now()
        self._version = record.resource_version
        self._sequence = sequence
        self.written += 1
        self.recorder.record(MarkerWritten(at=acknowledged, sequence=sequence))
        self._first.set()


def connect_marker_reader(
    markers: Markers, kubeconfig: Path | None, context: str | None
) -> Cluster | None:
    """The cluster ``markers.read_from`` names, or None when markers are read where they
    are written. A kubeconfig of its own comes with its own current context."""
    # Imported here: the restoring package reaches boto3 and the restore engine, which
    # only a drill whose markers come back elsewhere needs.
    from drillkit.restoring.targets import expand

    source = markers.read_from
    if source is None:
        return None
    path = kubeconfig
    if source.kubeconfig is not None:
        path = Path(expand(source.kubeconfig, what="markers.read_from.kubeconfig"))
        context = None
    return Cluster.connect(path, source.context or context)
