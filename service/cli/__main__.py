"""``python -m service.cli``: the same as the ``tollgate`` console script."""

from service.cli.main import main

main()
