"""Report writers and readers: what a run leaves behind for people and auditors.

The runner hands a finished :class:`~drillkit.model.run.RunRecord` to
:func:`~drillkit.reporting.writer.write_run_report`, which writes
``reports/<drill>/<run-id>/`` (DESIGN section 5): the versioned ``report.json``
(``document``), ``report.md`` and ``report.html`` for people (``human``, with the
chart from ``chart``), the Chaos Toolkit journal, the timeline and a manifest of
SHA-256 digests, every file written atomically (``files``). The CLI's ``drill report``
commands read them back with :func:`~drillkit.reporting.writer.list_reports` and
:func:`~drillkit.reporting.writer.find_report`.

Nothing here measures or judges: the numbers and the verdict come from
``drillkit.measuring`` through the record's outcome.
"""
