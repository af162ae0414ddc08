"""The runner: runs a drill's experiment on chaostoolkit-lib while observing the
recovery condition, then measures, judges and reports.

Layering: ``running`` sits above ``faults``/``probes``/``drivers`` and the pure
``measuring`` core, and below the CLI.
"""
