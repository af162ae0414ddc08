"""Pure measurement: a timeline of observations becomes RTO, RPO, capacity time and a verdict.

No I/O and no clock reads; time arrives as data (monotonic seconds).
"""
