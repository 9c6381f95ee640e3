"""Benchmarks: ``make bench`` (``python -m tests.bench``) runs every one of them.

Each module listed in ``tests/bench/__main__.py`` has a ``main(argv) -> int``
and can also run alone (``python -m tests.bench.ingest --help``). They print
their figures and whether each target is met, write them to
``var/bench/<name>.json`` and exit 0 either way (``--strict``: 1 on a miss).
No module here is named ``test_*``: pytest never collects them.
"""
