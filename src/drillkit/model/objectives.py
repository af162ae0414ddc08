"""What a team promised: the RTO and RPO targets a drill is judged against."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from drillkit.model.durations import Duration


class Objectives(BaseModel):
    """Targets and measuring windows of one drill.

    ``rto`` and ``rpo`` are optional: a drill without a target still measures the
    actual values, and its verdict then rests on the steady state alone.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rto: Duration | None = Field(
        default=None, description="Recovery time objective: longest acceptable outage."
    )
    rpo: Duration | None = Field(
        default=None, description="Recovery point objective: largest acceptable data loss."
    )
    stable_for: Duration = Field(
        default=timedelta(seconds=10),
        description="How long the recovery condition must hold before it counts as restored.",
    )
    timeout: Duration = Field(
        default=timedelta(minutes=10),
        description="Stop waiting for recovery after this long; RTO is then reported as a bound.",
    )
