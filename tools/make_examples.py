"""Record the example traces the app ships in `assets/examples/`, with the app's own sampler.

    python -m tools.make_examples [--model austen-mdlm] [--out assets/examples]

Each example is a folder of trace files (`sr-smc.json`, `greedy.json`, maybe
`best-of-n.json`) that `app.Sampler` made from one set of run-panel settings. Rerun it
after the default model is retrained; every file stays well under 300 KB.
"""
import argparse
import shutil
from pathlib import Path

import torch

from explorer.io import EXAMPLES_DIR
from sampler.models import DEFAULT_MODEL

BASE = dict(prompt="It is a truth universally acknowledged", n_particles=8, temperature=1.0, gen_length=64,
            steps=64, block_length=32, policy="topk", ess_threshold=0.5, resampling="systematic", seed=0,
            best_of_n=False, resample_when="every_step", resample_every=1, final_pick="sum_logp",
            confidence="untempered", threshold=0.9)
EXAMPLES = {
    # the teaching default: weights diverge, resampling prunes, lineages coalesce
    "1-truth-acknowledged-n8": {},
    # low temperature: confident but repetitive text, the failure the canvas highlights
    "2-low-temperature-n4": dict(prompt="Mr. Darcy walked into the room and", n_particles=4, temperature=0.3),
    # the same low temperature with the no-repeat-4 rule (beyond the paper): the loops of example 2 cannot close
    "2b-low-temperature-no-repeat-4": dict(prompt="Mr. Darcy walked into the room and", n_particles=4,
                                          temperature=0.3, no_repeat_ngram=4),
    # parallel decoding under the threshold policy, resampling at block ends, with best-of-N beside
    "3-threshold-block-end-best-of-n": dict(prompt="She was the youngest of the two daughters", policy="threshold",
                                            resample_when="block_end", block_length=16, best_of_n=True, seed=1),
}


def main(argv: list[str] | None = None) -> None:
    from app import Sampler, load_models  # the app owns sampling; this script only records its traces
    from explorer.limits import Limits

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--out", type=Path, default=EXAMPLES_DIR)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    models = load_models([args.model])
    if not models:
        raise SystemExit(f"model {args.model!r} is unavailable: train it first (see README)")
    sample = Sampler(models, Limits())
    for name, overrides in EXAMPLES.items():
        folder = args.out / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for role, trace in sample({**BASE, **overrides, "model": args.model}).items():
            path = trace.save(folder / f"{role}.json")
            print(f"{path}: {path.stat().st_size / 1024:.0f} KB, {trace.n_steps} steps, "
                  f"resampled at {trace.resample_steps() or 'no step'}")


if __name__ == "__main__":
    main()
