"""``python -m loopml``: the ``loopml`` command, for when its script is not on PATH."""

from loopml.cli import main

main()
