"""Quality of greedy, best-of-N and SR-SMC, and the repetition frontier of the beyond-paper knobs.

    python -m benchmarks.quality --quick                                  # a few minutes
    python -m benchmarks.quality --prompts 30 --taus 0.3 1.0 --ns 4 --out docs/quality.json
    python -m benchmarks.quality --frontier --prompts 30 --taus 1.0 --alphas 1 0 0.5 0.25 \
        --penalties off no-repeat-4 --out docs/quality-frontier-tau1.0.json     # and --taus 0.3 likewise
    python -m benchmarks.quality --report docs/quality-frontier-tau*.json   # table + answers, no decoding
    torchrun --standalone --nproc-per-node 2 -m benchmarks.quality --prompt-batch 8 ...   # batches over 2 ranks

Gen PPL is conditioned on the prompt: the judge (`benchmarks.judge`) reads prompt + generated
text and scores only the generated tokens. Beside it, per text: repeated word 3- and 4-gram
rates, unigram entropy, distinct-2/3 (`sampler.metrics`). Every cell decodes the same
prompts and seeds with the same unmasking schedule, so differences come from weighting,
resampling and the knobs alone; forward counts per prompt are reported so compute is
visible (greedy: 1 row per step; best-of-N and SR-SMC: N rows per step). Units are
(prompt, seed) pairs: each cell gets a mean and a 95 % bootstrap interval over units, and
paired comparisons against greedy at the same τ (same units resampled for both sides).

`--frontier`: α (`reward_weight`, 0 = best-of-N's weights, 1 = the paper) × repetition
setting (`--penalties`: off, no-repeat-4, rep-penalty-1.3, both) × τ, at one N, plus greedy
under each repetition setting.
"""
import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from benchmarks.judge import GenPPLJudge
from sampler.config import SamplerConfig, resolve_dtype
from sampler.metrics import sample_metrics, words
from sampler.models import load_model
from sampler.smc import decode
from sampler.sweep import ranks, sweep

PROMPTS = Path(__file__).resolve().parents[1] / "assets" / "heldout_prompts.jsonl"
METRICS = ("repeated_3gram_rate", "repeated_4gram_rate", "unigram_entropy", "distinct_2", "distinct_3")
# Repetition settings of the frontier (beyond the paper; both act on the proposal).
PENALTIES = {"off": {}, "no-repeat-4": {"no_repeat_ngram": 4}, "rep-penalty-1.3": {"repetition_penalty": 1.3},
             "both": {"no_repeat_ngram": 4, "repetition_penalty": 1.3}}
N_BOOT = 2000


def load_prompts(n: int) -> list[str]:
    return [json.loads(line)["prompt"] for line in PROMPTS.read_text().splitlines()[:n]]


def comparison_cells(taus: list[float], ns: list[int]) -> list[dict]:
    """Greedy, best-of-N and SR-SMC for every τ and N (compute-matched at equal N)."""
    out = []
    for tau in taus:
        out.append({"label": "greedy", "method": "smc", "n_particles": 1, "temperature": tau})
        for n in ns:
            out.append({"label": f"best-of-{n}", "method": "best_of_n", "n_particles": n, "temperature": tau})
            out.append({"label": f"sr-smc N={n}", "method": "smc", "n_particles": n, "temperature": tau})
    return out


def frontier_cells(taus: list[float], alphas: list[float], n: int, penalties: list[str]) -> list[dict]:
    """For every τ: greedy under each repetition setting (plain greedy first: the reference), then SR-SMC
    at each α (in the order given) under each setting."""
    settings = [(name, PENALTIES[name]) for name in ["off"] + [p for p in penalties if p != "off"]]
    out = []
    for tau in taus:
        out += [{"label": f"greedy, {penalty}", "method": "smc", "n_particles": 1, "temperature": tau,
                 "penalty": penalty, **knobs} for penalty, knobs in settings]
        out += [{"label": f"α={a:g}, {penalty}", "method": "smc", "n_particles": n, "temperature": tau,
                 "reward_weight": a, "penalty": penalty, **knobs} for a in alphas for penalty, knobs in settings]
    return out


def decode_cell(model, judge, prompts: list[str], seeds: list[int], cell: dict, base: dict,
                batch: int = 0) -> dict | None:
    """Decode every prompt (in batches of `batch`, 0 = one batch) for every seed through `sampler.sweep` (the
    CLI's path: under torchrun the batches are shared out over the ranks); on rank 0 (`judge` given), per unit:
    the chosen text's judge NLL and metrics. Other ranks decode their share and return None."""
    settings = {k: v for k, v in cell.items() if k not in ("label", "penalty")}
    batch = batch or len(prompts)
    configs = [SamplerConfig(prompts=tuple(prompts[i:i + batch]), seed=seed, **{**base, **settings})
               for seed in seeds for i in range(0, len(prompts), batch)]

    def work(c: SamplerConfig) -> tuple[list[str], int, float, list[float]]:
        resampled = []
        r = decode(model, c, record=False,
                   observers=(lambda info: resampled.append(info.resampled.float().mean().item()),))
        return r.best_texts, r.forwards, r.wall_time_s, resampled

    texts, contexts, forwards, wall, resampled = [], [], 0, 0.0, []
    for i, (best, f, w, rates) in sweep(configs, work):
        texts += best
        contexts += configs[i].prompts
        forwards, wall, resampled = forwards + f, wall + w, resampled + rates
    if judge is None:
        return None
    scored = judge.score(texts, contexts)
    per_text = [sample_metrics([words(t)]) for t in texts]
    units = {"nll": np.array(scored.nll), "count": np.array(scored.counts, dtype=float)}
    units.update({k: np.array([m[k] for m in per_text]) for k in METRICS})
    return {"units": units, "texts": texts, "forwards_per_prompt": forwards / len(texts),
            "wall_s_per_prompt": wall / len(texts), "resample_rate": float(np.mean(resampled))}


def corpus_ppl(nll: np.ndarray, count: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Token-weighted Gen PPL of the units `idx` [..., n] (one value per leading index)."""
    return np.exp(nll[idx].sum(-1) / count[idx].sum(-1))


def interval(values: np.ndarray) -> list[float]:
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def summarise(units: dict, boot: np.ndarray) -> dict:
    """Per-cell mean and 95 % bootstrap interval of every metric; `boot` [B, n] resampled unit indices."""
    everything = np.arange(len(units["nll"]))
    row = {"gen_ppl": float(corpus_ppl(units["nll"], units["count"], everything)),
           "gen_ppl_ci": interval(corpus_ppl(units["nll"], units["count"], boot))}
    for key in METRICS:
        row[key], row[key + "_ci"] = float(units[key].mean()), interval(units[key][boot].mean(-1))
    return row


def paired(units: dict, ref: dict, boot: np.ndarray) -> dict:
    """This cell against `ref` on the same units: Gen PPL ratio, per-unit PPL difference and wins,
    repeated-4-gram difference, entropy ratio; each with a paired bootstrap interval."""
    everything = np.arange(len(units["nll"]))
    ratio = lambda idx: corpus_ppl(units["nll"], units["count"], idx) / corpus_ppl(ref["nll"], ref["count"], idx)  # noqa: E731
    ppl, ref_ppl = np.exp(units["nll"] / units["count"]), np.exp(ref["nll"] / ref["count"])
    rep4 = units["repeated_4gram_rate"] - ref["repeated_4gram_rate"]
    ent = lambda idx: units["unigram_entropy"][idx].mean(-1) / ref["unigram_entropy"][idx].mean(-1)  # noqa: E731
    return {"gen_ppl_ratio": float(ratio(everything)), "gen_ppl_ratio_ci": interval(ratio(boot)),
            "ppl_diff": float((ppl - ref_ppl).mean()), "ppl_diff_ci": interval((ppl - ref_ppl)[boot].mean(-1)),
            "lower_ppl_units": int((ppl < ref_ppl).sum()), "units": len(ppl),
            "rep4_diff": float(rep4.mean()), "rep4_diff_ci": interval(rep4[boot].mean(-1)),
            "entropy_ratio": float(ent(everything)), "entropy_ratio_ci": interval(ent(boot))}


def reference_label(cell: dict) -> str:
    """The greedy cell every cell is paired against: plain greedy at the same τ."""
    return "greedy, off" if "penalty" in cell else "greedy"


def markdown(rows: list[dict]) -> str:
    ci = lambda r, k, f: f"{r[k]:{f}} [{r[k + '_ci'][0]:{f}}, {r[k + '_ci'][1]:{f}}]"  # noqa: E731
    lines = ["| setting | τ | forwards / prompt | Gen PPL | × greedy | repeated 3-grams | repeated 4-grams | "
             "Δ rep-4 vs greedy | entropy | × greedy | distinct-2 | distinct-3 |", "|" + "---|" * 12]
    for r in rows:
        p = r["vs_greedy"]
        lines.append(
            f"| {r['cell']} | {r['tau']} | {r['forwards_per_prompt']:.0f} | {ci(r, 'gen_ppl', '.1f')} | "
            f"{ci(p, 'gen_ppl_ratio', '.2f')} | {ci(r, 'repeated_3gram_rate', '.3f')} | "
            f"{ci(r, 'repeated_4gram_rate', '.3f')} | {ci(p, 'rep4_diff', '+.3f')} | "
            f"{ci(r, 'unigram_entropy', '.2f')} | {ci(p, 'entropy_ratio', '.3f')} | "
            f"{r['distinct_2']:.3f} | {r['distinct_3']:.3f} |")
    return "\n".join(lines)


def frontier_answers(rows: list[dict], low_tau: float = 0.3, high_tau: float = 1.0) -> str:
    """The issue's two questions, answered from a frontier run's rows (intervals are paired bootstrap vs greedy).

    At `high_tau`: settings with Gen PPL ≤ 0.8× greedy's, repeated 4-grams ≤ greedy's + 0.01 and entropy
    ≥ 0.97× greedy's (or, if none, the lowest-PPL setting within the repetition and entropy bounds). At
    `low_tau`: the setting that cuts repeated 4-grams the most, and the best SR-SMC (N > 1) one."""
    ci = lambda d, k, f: f"{d[k]:{f}} [{d[k + '_ci'][0]:{f}}, {d[k + '_ci'][1]:{f}}]"  # noqa: E731

    def line(r: dict) -> str:
        v = r["vs_greedy"]
        return (f"{r['cell']} (τ = {r['tau']}): Gen PPL {ci(r, 'gen_ppl', '.1f')} = {ci(v, 'gen_ppl_ratio', '.2f')}× "
                f"greedy, repeated 4-grams {ci(r, 'repeated_4gram_rate', '.3f')} (Δ {ci(v, 'rep4_diff', '+.3f')}), "
                f"entropy {ci(v, 'entropy_ratio', '.3f')}× greedy, lower PPL than greedy on "
                f"{v['lower_ppl_units']} of {v['units']} units")

    out = []
    high = [r for r in rows if r["tau"] == high_tau and r["cell"] != "greedy, off"]
    within = [r for r in high if r["vs_greedy"]["rep4_diff"] <= 0.01 and r["vs_greedy"]["entropy_ratio"] >= 0.97]
    meets = [r for r in within if r["vs_greedy"]["gen_ppl_ratio"] <= 0.8]
    out.append(f"(a) τ = {high_tau}: {len(meets)} setting(s) meet PPL ≤ 0.8× greedy, Δ rep-4 ≤ +0.01, entropy ≥ 0.97×"
               + "".join(f"\n    {line(r)}" for r in sorted(meets, key=lambda r: r["vs_greedy"]["gen_ppl_ratio"])))
    if not meets and within:
        out.append("    best trade within the repetition and entropy bounds: "
                   + line(min(within, key=lambda r: r["vs_greedy"]["gen_ppl_ratio"])))
    low = [r for r in rows if r["tau"] == low_tau and r["cell"] != "greedy, off"]
    cut = lambda r: (round(r["vs_greedy"]["rep4_diff"], 3), r["gen_ppl"])  # noqa: E731  ties: lower Gen PPL
    if low:
        out.append(f"(b) τ = {low_tau}: largest cut in repeated 4-grams: "
                   + line(min(low, key=cut)))
        out.append("    among SR-SMC / best-of-N (N > 1): "
                   + line(min((r for r in low if r["N"] > 1), key=cut)))
    return "\n".join(out)


def save(args: argparse.Namespace, prompts: list[str], rows: list[dict], units: dict, header: str) -> None:
    per_unit = [{"cell": label, "tau": tau, **{k: v.tolist() for k, v in u.items()}} for (label, tau), u in units.items()]
    args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out), "report": None}, "header": header,
                                    "prompts": prompts, "rows": rows, "units": per_unit}, indent=1))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="6 prompts, 1 seed, τ = 1.0, N = 4")
    ap.add_argument("--frontier", action="store_true", help="the α × penalty × τ grid instead of the N comparison")
    ap.add_argument("--prompts", type=int, default=30, help="the first this many held-out prompts")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--taus", type=float, nargs="+", default=[0.3, 1.0])
    ap.add_argument("--ns", type=int, nargs="+", default=[4], help="particle counts beside greedy (N = 1)")
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0], help="frontier: reward_weight")
    ap.add_argument("--penalties", nargs="+", choices=list(PENALTIES), default=["off", "both"],
                    help="frontier: repetition settings (off always runs: it is the reference)")
    ap.add_argument("--gen-length", type=int, default=64)
    ap.add_argument("--block-length", type=int, default=32)
    ap.add_argument("--model", default="austen-mdlm", help="'austen-mdlm', a hub id or a local folder")
    ap.add_argument("--dtype", default="auto", help="model weights' dtype (auto: bfloat16 where the CPU runs it fast)")
    ap.add_argument("--device", default="cpu", help="decode on this device (under torchrun with cuda: cuda:LOCAL_RANK)")
    ap.add_argument("--prompt-batch", type=int, default=0, help="prompts decoded together (0 = all in one batch); "
                    "under torchrun the batches are shared out over the ranks")
    ap.add_argument("--out", type=Path, help="write all numbers as JSON")
    ap.add_argument("--report", type=Path, nargs="+", help="only print the table (and frontier answers) of saved "
                    "JSON files (rows joined)")
    args = ap.parse_args(argv)
    if args.report:
        saved = [json.loads(path.read_text()) for path in args.report]
        rows = [r for s in saved for r in s["rows"]]
        print("\n".join(s["header"] for s in saved) + f"\n\n{markdown(rows)}")
        if all(s["args"]["frontier"] for s in saved):
            print("\n" + frontier_answers(rows))
        return
    if args.quick:
        args.prompts, args.seeds, args.taus, args.ns = 6, 1, [1.0], [4]
    with ranks(args.device) as me:
        run(args, me.leader)


def run(args: argparse.Namespace, leader: bool) -> None:
    """Decode and (rank 0) judge, print and save every cell; other ranks of a torchrun sweep only decode."""
    prompts, seeds = load_prompts(args.prompts), list(range(args.seeds))
    model = load_model(args.model, args.device, args.dtype)
    judge = GenPPLJudge() if leader else None
    base = {"gen_length": args.gen_length, "steps": args.gen_length, "block_length": args.block_length,
            "device": args.device}
    cells = frontier_cells(args.taus, args.alphas, args.ns[0], args.penalties) if args.frontier else comparison_cells(args.taus, args.ns)
    boot = np.random.default_rng(0).integers(0, len(prompts) * len(seeds), (N_BOOT, len(prompts) * len(seeds)))
    header = (f"# Quality: {model.name} ({resolve_dtype(args.dtype, args.device)}), {len(prompts)} held-out prompts × "
              f"{len(seeds)} seed(s), {args.gen_length} tokens, {args.gen_length} steps, blocks of {args.block_length}, "
              f"judge {judge.model_id if judge else ''} conditioned on the prompt")
    start, rows, units = time.time(), [], {}
    for cell in cells:
        result = decode_cell(model, judge, prompts, seeds, cell, base, args.prompt_batch)
        if result is None:  # not rank 0: only decodes its share
            continue
        units[(cell["label"], cell["temperature"])] = result.pop("units")
        ref = units[(reference_label(cell), cell["temperature"])]  # greedy runs first at each τ
        row = {"cell": cell["label"], "tau": cell["temperature"], "N": cell["n_particles"],
               "settings": {k: v for k, v in cell.items() if k != "label"},
               **summarise(units[(cell["label"], cell["temperature"])], boot),
               "vs_greedy": paired(units[(cell["label"], cell["temperature"])], ref, boot),
               **{k: v for k, v in result.items() if k != "texts"}, "samples": result["texts"][:3]}
        rows.append(row)
        if args.out:  # after every cell, so a stopped run keeps what it measured
            save(args, prompts, rows, units, f"{header} (partial: {len(rows)} of {len(cells)} cells)")
        print(f"  {cell['label']} τ={cell['temperature']}: Gen PPL {row['gen_ppl']:.1f}, "
              f"rep-4 {row['repeated_4gram_rate']:.3f}, entropy {row['unigram_entropy']:.2f} "
              f"({time.time() - start:.0f} s)", flush=True)
    if not leader:
        return
    header += f"; {time.time() - start:.0f} s"
    print(f"\n{header}\n\n{markdown(rows)}")
    if args.frontier:
        print("\n" + frontier_answers(rows))
    if args.out:
        save(args, prompts, rows, units, header)


if __name__ == "__main__":
    main()
