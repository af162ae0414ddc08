"""RPO from data markers: how much recently written data the recovery lost.

A marker writer (``drillkit.probes``) writes ``(sequence, t_write)`` markers every
``interval`` into the protected data, through the application's own path, from before
``t_inject``; after recovery a reader finds the newest surviving marker (DESIGN
section 3). This module turns that into the RPO and the count of lost writes. Pure: the
write times are the monotonic readings our writer recorded, never the wall-clock times
stored in the markers, which come from a different clock.

The marker interval is the resolution: writes between the newest surviving marker and
the next one may have survived too, so the true RPO lies less than one interval below
the reported one.
"""

from __future__ import annotations

from collections.abc import Iterable

from drillkit.model.measurement import Bound, Measurement, RpoMeasurement, format_seconds


def measure_rpo(
    written: Iterable[tuple[int, float]],
    *,
    newest_surviving: int | None,
    t_inject: float | None,
    interval: float,
    backup_age_seconds: float | None = None,
    read_back: bool = True,
) -> RpoMeasurement:
    """Measure ``RPO = max(0, t_inject - t_write(newest surviving))`` and the lost markers.

    ``written`` holds ``(sequence, monotonic t_write)`` for every marker this run wrote.
    ``newest_surviving`` is the newest sequence the reader found, None when none
    survived. ``read_back`` is False when the reader never ran (the run stopped first):
    loss is then unknown, which is not the same as "nothing survived". A marker counts
    as written before the fault when ``t_write <= t_inject``. Raise ValueError for a
    surviving sequence this run never wrote, or one sequence written twice.
    """
    if interval < 0:
        raise ValueError(f"marker interval cannot be negative: {interval}")
    write_times: dict[int, float] = {}
    for sequence, t_write in written:
        if sequence in write_times:
            raise ValueError(f"marker sequence {sequence} was written twice")
        write_times[sequence] = t_write
    if newest_surviving is not None and newest_surviving not in write_times:
        # Another run's marker, or a reader looking in the wrong place: either way the
        # measurement would compare clocks of different processes.
        raise ValueError(
            f"surviving marker sequence {newest_surviving} was never written by this run"
        )

    def result(rpo: Measurement, *, before: int = 0, lost: int | None = 0) -> RpoMeasurement:
        return RpoMeasurement(
            rpo=rpo,
            markers_written_before_inject=before,
            markers_lost=lost,
            newest_surviving_sequence=newest_surviving,
            backup_age_seconds=backup_age_seconds,
        )

    if t_inject is None:
        return result(
            Measurement(
                seconds=None,
                resolution_seconds=interval,
                note="the fault never took effect, so there is no t_inject to measure loss from",
            )
        )
    before_inject = {
        sequence: t_write for sequence, t_write in write_times.items() if t_write <= t_inject
    }
    if not before_inject:
        return result(
            Measurement(
                seconds=None,
                resolution_seconds=interval,
                note="no marker was written before the fault, so loss cannot be measured",
            )
        )
    if not read_back:
        return result(
            Measurement(
                seconds=None,
                resolution_seconds=interval,
                note="markers were not read back after recovery",
            ),
            before=len(before_inject),
            lost=None,
        )
    if newest_surviving is None:
        # Everything written before the fault is gone, and so may be older data we never
        # marked: the loss reaches back at least to the first marker.
        first_write = min(before_inject.values())
        return result(
            Measurement(
                seconds=t_inject - first_write,
                resolution_seconds=interval,
                bound=Bound.LOWER,
                note=f"no marker survived: every one of the {len(before_inject)} markers "
                f"written in the {format_seconds(t_inject - first_write)} s before the fault "
                "was lost",
            ),
            before=len(before_inject),
            lost=len(before_inject),
        )

    lost = sum(1 for sequence in before_inject if sequence > newest_surviving)
    t_write = write_times[newest_surviving]
    if t_write > t_inject:
        note = f"marker {newest_surviving}, written after the fault, survived"
    else:
        note = (
            f"newest surviving marker {newest_surviving} was written "
            f"{format_seconds(t_inject - t_write)} s before the fault"
        )
    return result(
        Measurement(
            seconds=max(0.0, t_inject - t_write),
            resolution_seconds=interval,
            note=note,
        ),
        before=len(before_inject),
        lost=lost,
    )
