"""``python -m drillkit.cli``: the same as the ``drill`` command."""

from drillkit.cli.main import main

main()
