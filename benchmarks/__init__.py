"""Benchmarks and the performance budget of dvrules (issue 5).

Run ``python -m benchmarks.run`` (``make bench``) for the full run, ``--quick`` for a smoke run of
a few seconds. Results go to ``benchmarks/results/`` as Markdown and JSON; see
``benchmarks/README.md`` for how to read them.
"""
