"""Forget and held-out general accuracy at every check of a pretrained model's probed unlearning runs.

    python benchmarks/depth.py [--model smollm2-135m] [--methods npo] [--max-items 40]
                               [--lr LR --check-every-step-until N] [--json FILE]

Runs (or reads from the unpact cache) the probed trajectory that notebook 02 uses for a pretrained
model on the ``facts`` benchmark, with the ``quick`` profile's settings (``--max-items`` items a split,
emphasis style ``instruction``), and prints, per method and checked step, the forget accuracy, the
held-out general ("utility") accuracy and the number of forgotten items (``unpact.findings.depth.depth_curves``),
then each run's operating point (``operating_points``; -1 = none). It shows where a run crosses, or misses,
the pre-registered operating-point rule (``unpact.findings.depth.OPERATING_RULE``).

``--lr`` and ``--check-every-step-until`` replace the ``facts`` benchmark's own settings
(``unpact.data.facts.UNLEARNING_SETTINGS``) for every method (``method_params`` of the study), to see
whether another learning rate gives a trajectory that meets the rule; the book's runs keep the
benchmark's settings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unpact.findings.depth import OPERATING_RULE, depth_curves, operating_points  # noqa: E402
from unpact.report import write_benchmark  # noqa: E402
from unpact.study import notebook_studies  # noqa: E402

CODE = ("benchmarks/depth.py", "unpact/study.py", "unpact/findings/depth.py", "unpact/unlearn", "unpact/data/facts.py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="a name of `unpact models` or a model folder")
    parser.add_argument("--methods", nargs="+", default=["npo"], help="unlearning methods (default: npo)")
    parser.add_argument("--max-items", type=int, default=40, help="items a split, as in the quick profile")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: the benchmark's)")
    parser.add_argument("--check-every-step-until", type=int, default=None,
                        help="check at every step up to this one (default: the benchmark's)")
    parser.add_argument("--json", default=None, help="also write the table for the book's Performance page here")
    args = parser.parse_args()
    params = {"profile": "quick", "archs": [], "seeds": [0], "methods": args.methods,
              "pretrained_models": [args.model], "pretrained_methods": args.methods,
              "pretrained_styles": ["instruction"], "pretrained_max_items": args.max_items}
    override = {k: v for k, v in (("lr", args.lr), ("check_every_step_until", args.check_every_step_until))
                if v is not None}
    study = notebook_studies(params, probe_style="instruction",
                             method_params={m: override for m in args.methods} if override else {})[0]
    runs = ["method", "domain"]
    curves = depth_curves(study.trajectories(), runs)
    table = curves[[*runs, "step", "forget_accuracy", "utility", "n_forgotten"]]
    points = operating_points(curves, runs)
    print(table.to_string(index=False, float_format="%.3f"))
    print(points.to_string(index=False, float_format="%.3f"))
    if args.json:
        op = ", ".join(f"{r.method}: {int(r.op_step) if r.op_step >= 0 else 'none'}" for r in points.itertuples())
        options = "".join(f" --{k.replace('_', '-')} {v}" for k, v in override.items())
        command = (f"python benchmarks/depth.py --model {args.model} --methods {' '.join(args.methods)} "
                   f"--max-items {args.max_items}{options} --json {args.json}")
        setting = f" at {', '.join(f'{k} {v}' for k, v in override.items())}" if override else ""
        write_benchmark(args.json, f"Unlearning depth: {args.model} on facts{setting}, accuracy at every check",
                        command,
                        pd.DataFrame(table).to_dict("records"),
                        f"utility = held-out general accuracy. Operating-point rule: {OPERATING_RULE}. "
                        f"Operating step per method: {op}.", code=CODE)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
