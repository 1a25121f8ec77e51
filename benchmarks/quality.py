"""Does SR-SMC help? Greedy vs best-of-N vs SR-SMC on held-out Austen prompts.

    python -m benchmarks.quality --quick        # a few minutes on 2 CPU cores
    python -m benchmarks.quality --out docs/quality.json    # 12 prompts × 2 seeds, the full grid

Every method uses the same prompts, seeds and unmasking schedule (top-k, one block
schedule for all), so differences come from weighting and resampling alone. Best-of-N is
the compute-matched baseline: N independent particles, no resampling, picked by the same
score. One extra row runs the reference code's settings (threshold policy ρ = 0.9,
resampling checked at block ends). Per cell: mean and 95 % bootstrap interval over
(prompt, seed) units.
"""
import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from sampler.config import SamplerConfig
from sampler.judge import GenPPLJudge
from sampler.metrics import sample_metrics, words
from sampler.models import load_model
from sampler.smc import decode

PROMPTS = Path(__file__).resolve().parents[1] / "assets" / "heldout_prompts.jsonl"


def load_prompts(n: int) -> list[str]:
    return [json.loads(line)["prompt"] for line in PROMPTS.read_text().splitlines()[:n]]


def cells(taus: list[float], ns: list[int]) -> list[dict]:
    """The grid: greedy, best-of-N and SR-SMC for every τ and N, plus the reference-code row."""
    out = []
    for tau in taus:
        out.append({"label": "greedy", "method": "smc", "n_particles": 1, "temperature": tau})
        for n in ns:
            out.append({"label": f"best-of-{n}", "method": "best_of_n", "n_particles": n, "temperature": tau})
            out.append({"label": f"sr-smc N={n}", "method": "smc", "n_particles": n, "temperature": tau})
    out.append({"label": "reference settings N=4", "method": "smc", "n_particles": 4, "temperature": 1.0,
                "policy": "threshold", "threshold": 0.9, "resample_when": "block_end"})
    return out


def bootstrap_ci(values: np.ndarray, stat=np.mean, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), (n_boot, len(values)))
    boots = np.array([stat(values[i]) for i in idx])
    return float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def run_cell(model, judge, prompts, seeds, cell, base: dict) -> dict:
    """Decode every prompt (as one batch) for every seed; score the chosen texts."""
    texts, log_conf, wall, forwards, resample_rate = [], [], 0.0, 0, []
    settings = {k: v for k, v in cell.items() if k != "label"}
    for seed in seeds:
        cfg = SamplerConfig(prompts=tuple(prompts), seed=seed, **{**base, **settings})
        r = decode(model, cfg)
        texts += r.best_texts
        log_conf += [r.scores[p, i].item() / cfg.gen_length for p, i in enumerate(r.chosen)]
        wall += r.wall_time_s
        forwards += r.forwards
        checks = len(r.trace.steps) * len(prompts)
        resample_rate.append(sum(sum(s.resampled) for s in r.trace.steps) / checks)
    nll, counts = [], []
    per_sample = judge.score(texts).per_sample
    for text, ppl in zip(texts, per_sample):
        n = len(judge.token_ids(text)) - 1
        nll.append(math.log(ppl) * n)
        counts.append(n)
    nll, counts = np.array(nll), np.array(counts)
    units = np.arange(len(texts))
    gen_ppl = lambda i: math.exp(nll[i].sum() / counts[i].sum())  # noqa: E731  token-weighted
    per = [sample_metrics([words(t)]) for t in texts]
    row = {"cell": cell["label"], "tau": cell["temperature"], "N": cell["n_particles"],
           "gen_ppl": gen_ppl(units), "gen_ppl_ci": bootstrap_ci(units, gen_ppl)}
    for key in ("unigram_entropy", "distinct_2", "distinct_3", "repeated_3gram_rate"):
        values = np.array([m[key] for m in per])
        row[key], row[key + "_ci"] = float(values.mean()), bootstrap_ci(values)
    lc = np.array(log_conf)
    row.update({"mean_log_conf": float(lc.mean()), "mean_log_conf_ci": bootstrap_ci(lc),
                "forwards_per_prompt": forwards / (len(prompts) * len(seeds)),
                "wall_s_per_prompt": wall / (len(prompts) * len(seeds)),
                "resample_rate": float(np.mean(resample_rate)), "samples": texts[:3]})
    return row


def markdown(rows: list[dict]) -> str:
    head = ("| setting | τ | Gen PPL | entropy | distinct-2 | distinct-3 | repeated 3-grams | mean log-conf | "
            "forwards | s / prompt | resample rate |\n|" + "---|" * 11)
    fmt = lambda r, k, f: f"{r[k]:{f}} [{r[k + '_ci'][0]:{f}}, {r[k + '_ci'][1]:{f}}]"  # noqa: E731
    lines = [head]
    for r in rows:
        lines.append(f"| {r['cell']} | {r['tau']} | {fmt(r, 'gen_ppl', '.1f')} | {fmt(r, 'unigram_entropy', '.2f')} | "
                     f"{fmt(r, 'distinct_2', '.3f')} | {fmt(r, 'distinct_3', '.3f')} | "
                     f"{fmt(r, 'repeated_3gram_rate', '.3f')} | {fmt(r, 'mean_log_conf', '.2f')} | "
                     f"{r['forwards_per_prompt']:.0f} | {r['wall_s_per_prompt']:.2f} | {r['resample_rate']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="6 prompts, 1 seed, τ = 0.7, N ∈ {1, 4}")
    ap.add_argument("--prompts", type=int, default=12)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--taus", type=float, nargs="+", default=[0.3, 0.7, 1.0])
    ap.add_argument("--ns", type=int, nargs="+", default=[2, 4, 8], help="particle counts beside greedy (N = 1)")
    ap.add_argument("--gen-length", type=int, default=64)
    ap.add_argument("--block-length", type=int, default=32)
    ap.add_argument("--model", default="austen-mdlm")
    ap.add_argument("--out", type=Path, help="write all numbers as JSON")
    args = ap.parse_args(argv)
    if args.quick:
        args.prompts, args.seeds, args.taus, args.ns = 6, 1, [0.7], [4]
    n_prompts, seeds = args.prompts, list(range(args.seeds))
    prompts = load_prompts(n_prompts)
    model = load_model(args.model)
    judge = GenPPLJudge()
    base = {"gen_length": args.gen_length, "steps": args.gen_length, "block_length": args.block_length}
    start, rows = time.time(), []
    for cell in cells(args.taus, args.ns):
        rows.append(run_cell(model, judge, prompts, seeds, cell, base))
        print(f"  {cell['label']} τ={cell['temperature']}: Gen PPL {rows[-1]['gen_ppl']:.1f}", flush=True)
    print(f"\n# Quality: {model.name}, {n_prompts} held-out prompts × {len(seeds)} seeds, "
          f"{args.gen_length} tokens, {args.gen_length} steps, blocks of {args.block_length}, "
          f"judge {judge.model_id}; {time.time() - start:.0f} s\n")
    print(markdown(rows))
    if args.out:
        args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
