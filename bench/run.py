#!/usr/bin/env python
"""`make bench`: runs every benchmark script in this folder, one after the other, and prints their reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# the runner, the shared pieces, and the reference server's Django modules (bench/settings.py)
NOT_BENCHMARKS = {"run", "harness", "__init__", "settings", "urls", "views"}


def main() -> int:
    selected = set(sys.argv[1:])
    scripts = sorted(p for p in HERE.glob("*.py") if p.stem not in NOT_BENCHMARKS)
    failed = []
    for script in scripts:
        if selected and script.stem not in selected:
            continue
        print(f"\n=== bench/{script.name} ===", flush=True)
        if subprocess.call([sys.executable, str(script)], cwd=HERE.parent) != 0:
            failed.append(script.name)
    if failed:
        print(f"\nbenchmarks failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
