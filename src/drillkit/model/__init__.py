"""Pure value types: drill files, timeline events, measurements and verdicts.

Nothing here performs I/O or reads a clock; time arrives as data.
"""
