"""``python -m tests.bench [NAME [ARGS...]]``: every benchmark, or one with its arguments.

A new benchmark is a module of this package with ``main(argv) -> int``; add
its name to ``BENCHMARKS`` and ``make bench`` runs it too.
"""

import importlib
import sys

BENCHMARKS = [
    "ingest",
    "reconcile",
    "lag",
    "rollcalls",
    "rounds",
    "audit",
    "rounds_compliance",
    "archive",
    "roll",
]


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        print("benchmarks:", ", ".join(BENCHMARKS))
        return 0
    if argv and not argv[0].startswith("-"):
        name, args = argv[0], argv[1:]
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
            return 2
        return _run(name, args)
    # Options without a name (e.g. --strict) go to every benchmark.
    return max(_run(name, argv) for name in BENCHMARKS)


def _run(name: str, args: list[str]) -> int:
    module = importlib.import_module(f"tests.bench.{name}")
    return module.main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
