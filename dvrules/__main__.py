"""``python -m dvrules``: the same command as the ``dvrules`` console script."""

from dvrules.cli import app

app(prog_name="dvrules")
