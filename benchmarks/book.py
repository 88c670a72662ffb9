"""Time `unpact run` from an empty cache, then again with the warm cache (notebooks re-executed both times).

    python benchmarks/book.py [--profile quick] [--out results/benchmarks/book.json]

Targets (issue 6, on a 2-core machine): quick profile <= 600 s cold, <= 120 s warm. Prints both
with their ratio and writes the JSON that the book's Performance page shows
(``{"title", "machine", "command", "rows", "notes"}``). The cold run uses a fresh temporary cache
folder, so the user's cache is neither used nor touched.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"quick": (600.0, 120.0)}


def timed_run(profile: str, cache: Path) -> float:
    """Seconds for ``unpact run --profile PROFILE --force --cache CACHE`` in the repository root (fails loudly)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "unpact.cli", "run", "--profile", profile, "--force", "--cache", str(cache)],
                   cwd=ROOT, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks" / "book.json")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from unpact.report import write_benchmark

    with tempfile.TemporaryDirectory(prefix="unpact-bench-cache-") as tmp:
        cold = timed_run(args.profile, Path(tmp))
        warm = timed_run(args.profile, Path(tmp))
    cold_target, warm_target = TARGETS.get(args.profile, (None, None))
    rows = [{"run": "empty cache", "seconds": round(cold, 1), "target_seconds": cold_target},
            {"run": "warm cache", "seconds": round(warm, 1), "target_seconds": warm_target}]
    print(f"unpact run --profile {args.profile}: empty cache {cold:.1f} s, warm cache {warm:.1f} s "
          f"(warm/cold = {warm / cold:.2f}); targets {cold_target} s / {warm_target} s")
    write_benchmark(args.out, f"Book pipeline: unpact run --profile {args.profile}",
                    f"python benchmarks/book.py --profile {args.profile}", rows,
                    "All notebooks re-executed (--force) both times; the warm run reuses the organisms and unlearned "
                    "models cached by the cold run.",
                    code=("benchmarks/book.py", "unpact", "notebooks"))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
