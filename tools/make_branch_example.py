"""Record the bundled comparison example: example 2 (τ 0.3) beside its branch with no-repeat 4 started just before
the first step at which ★'s line closed a repeated n-gram (the lens's first loop: the player's `l` key).

    python -m tools.make_branch_example [--out assets/examples]

The folder holds two SR-SMC traces, loaded in name order: `1-original.json` (example 2's own) and
`2-branch-no-repeat-4.json` (its branch, which records its parent); loading it opens the compare view at the
branch step. Rerun it after example 2 changes.
"""
import argparse
import shutil
from pathlib import Path

from explorer.io import EXAMPLES_DIR
from explorer.payload import REPEAT_N
from sampler.models import DEFAULT_MODEL
from sampler.trace import Trace

ORIGINAL = "2-low-temperature-n4"
NAME = "2c-branch-before-the-first-loop-no-repeat-4"


def first_loop_step(trace: Trace, n: int = REPEAT_N) -> int:
    """The first step at which a token committed into ★'s line (the final ★ or its ancestor) ends an n-gram of
    committed tokens that already occurred earlier in that line (as explorer/player/repeat.js counts loops)."""
    chosen, mask = trace.final["chosen"][0], trace.mask_id
    nodes = dict(trace.walk_back())
    for t in range(1, trace.n_steps + 1):
        row = int(nodes[t][chosen])
        tokens = trace.state_at(t, before_resample=True).tokens[row]
        rec = trace.steps[t - 1]
        now = {p for r, p in zip(rec.rows, rec.positions) if r == row}
        seen = set()
        for g in range(trace.prompt_width + n - 1, len(tokens)):
            gram = tuple(int(x) for x in tokens[g - n + 1:g + 1])
            if mask in gram or any(p < trace.prompt_width for p in range(g - n + 1, g + 1)):
                continue
            if gram in seen and g in now:
                return t
            seen.add(gram)
    raise ValueError("★'s line never closes a repeated n-gram: no loop to branch before")


def main(argv: list[str] | None = None) -> None:
    from app import Sampler, load_models  # the app owns sampling; this script only records its traces
    from explorer.limits import Limits

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=EXAMPLES_DIR)
    args = ap.parse_args(argv)
    original = args.out / ORIGINAL / "sr-smc.json"
    trace = Trace.load(original)
    t = first_loop_step(trace)
    sampler = Sampler(load_models([DEFAULT_MODEL]), Limits())
    branch = sampler.branch(trace, t - 1, {"no_repeat_ngram": 4})
    folder = args.out / NAME
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(original, folder / "1-original.json")
    branch.save(folder / "2-branch-no-repeat-4.json")
    print(f"★'s line first closed a repeated {REPEAT_N}-gram at step {t}; branched after step {t - 1} with "
          f"no-repeat 4 → {folder}")


if __name__ == "__main__":
    main()
