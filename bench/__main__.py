"""Run every benchmark, each in its own process (some load a PKCS#11 module or an OpenSSL provider
that must not meet another's in one process), and print what each reports.

    python -m bench            # all
    python -m bench tokens     # only bench/tokens_bench.py
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time

BENCHMARKS = ("tokens", "tls", "cmc", "localca")


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    failed = 0
    for name in chosen:
        module = f"bench.{name}_bench"
        if importlib.util.find_spec(module) is None:
            print(f"== {name}: not written yet")
            continue
        print(f"== {name}", flush=True)
        started = time.monotonic()
        code = f"import sys, {module} as b; print('\\n'.join(b.run()))"
        result = subprocess.run([sys.executable, "-c", code], check=False)
        if result.returncode:
            failed += 1
            print(f"   ({name} failed with exit code {result.returncode})")
        print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
