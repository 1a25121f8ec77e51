"""Speed and memory of the sampler, in CPU time on one thread (the box is shared; wall clock swings 5-10×).

    python -m benchmarks.speed --sections steps,commit,memory --against /tmp/old   # docs/benchmarks.md
    python -m benchmarks.speed --sections throughput,trace                          # throughput vs N, trace size
    python -m benchmarks.speed --device cuda --model llada-like-1b --sections steps,throughput
    python -m benchmarks.speed --sections cache                                     # KV cache none/prefix/dual

`--against` is a checkout of an older commit (`git worktree add /tmp/old 817ac7d`): its code runs in
subprocesses alternating with ours. Every ratio compares timings taken in the same run, interleaved
(A, B, C, A, B, C, ...), medians. Prints markdown tables.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import torch

from sampler.config import SamplerConfig
from sampler.models import load_model
from sampler.smc import decode
from sampler.unmasking import transfer_counts

PROMPT = "It is a truth universally acknowledged"
TOY_PROMPT = "the cat sat on a mat"


def _clock(device: torch.device):
    """CPU time of this process on a CPU, wall time (after a synchronize) on CUDA."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        return time.perf_counter()
    return time.process_time()


def _interleaved_medians(fns: dict, device: torch.device, repeats: int) -> dict:
    """Median seconds of each function, timed in turn so load drifts hit all alike."""
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = _clock(device)
            fn()
            times[name].append(_clock(device) - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def minimal_loop(model, x: torch.Tensor, prompt_width: int, gen_length: int, steps: int, block_length: int) -> None:
    """The minimal LLaDA-style greedy loop, the baseline: per step a forward for the block's logits, softmax,
    argmax, confidence of the argmax, top-k among masked positions, commit. No checks, no bookkeeping."""
    n_blocks = gen_length // block_length
    for b in range(n_blocks):
        lo = prompt_width + b * block_length
        block = torch.arange(lo, lo + block_length, device=x.device).expand(x.shape[0], -1)  # on the model's device
        for k in transfer_counts(block_length, steps // n_blocks):
            logits = model.logits_at(x, None, block).float()
            logits[..., model.mask_id] = -torch.inf
            probs = torch.softmax(logits, dim=-1)
            tokens = logits.argmax(dim=-1)
            conf = probs.gather(-1, tokens[..., None])[..., 0]
            masked = x[:, lo:lo + block_length] == model.mask_id
            top = conf.masked_fill(~masked, -1.0).topk(k, dim=1).indices
            x[:, lo:lo + block_length] = x[:, lo:lo + block_length].scatter(1, top, tokens.gather(1, top))


def step_costs(model, prompt_text: str, n: int, length: int, block: int | None, tokens_per_step: int, repeats: int,
               device: str, caches: tuple[str, ...] = ()) -> dict:
    """Seconds per step over whole runs, interleaved: the bare forward (body + output layer at the masked
    positions, over the states an SR-SMC run visits); the minimal loop (τ = 0); our greedy decoding of the same
    n rows (τ = 0), on CUDA also without overlapping the steps (`decode(overlap=False)`); SR-SMC with recording
    (τ = 1, κ = 0.5, multinomial), and with each setting of `caches` (`SamplerConfig.cache`) as
    `smc+record cache=...`."""
    dev = torch.device(device)
    prompt = model.encode(prompt_text)
    gen_length = length - len(prompt)
    gen_length -= gen_length % 32
    steps = gen_length // tokens_per_step
    smc = SamplerConfig(prompts=(prompt_text,), gen_length=gen_length, steps=steps, block_length=block or gen_length,
                        n_particles=n, temperature=1.0, device=device, seed=0)
    greedy = smc.replace(prompts=(prompt_text,) * n, n_particles=1, temperature=0.0)
    x0 = torch.tensor([prompt + [model.mask_id] * gen_length]).repeat(n, 1).to(dev)
    inputs = [x0]
    decode(model, smc, observers=(lambda info: inputs.append(info.state.x.clone()),), record=False)
    inputs = inputs[:-1]  # the state each step read

    def forwards():
        for x in inputs:
            masked = x == model.mask_id
            lo = len(prompt) + (int(masked.any(0).nonzero()[0]) - len(prompt)) // smc.block_length * smc.block_length
            in_block = masked[:, lo:lo + smc.block_length]  # the current block's masked positions
            m = int(in_block.sum(1).max())
            model.logits_at(x, None, lo + torch.argsort((~in_block).to(torch.uint8), dim=1, stable=True)[:, :m])

    with torch.inference_mode():
        t = _interleaved_medians({
            "forward": forwards,
            "minimal_loop": lambda: minimal_loop(model, x0.clone(), len(prompt), gen_length, steps, smc.block_length),
            "greedy": lambda: decode(model, greedy, record=False),
            # on CUDA decode overlaps each step's host work with the next step's forward; this is without that
            **({"greedy no-overlap": partial(decode, model, greedy, record=False, overlap=False)}
               if dev.type == "cuda" else {}),
            "smc+record": lambda: decode(model, smc, record=True),
            **{f"smc+record cache={c}": partial(decode, model, smc.replace(cache=c), record=True) for c in caches},
        }, dev, repeats)
    per_step = {k: v / steps for k, v in t.items()}
    return {"N": n, "L": len(prompt) + gen_length, "block": smc.block_length, "steps": steps,
            **{f"{k}_ms": 1000 * v for k, v in per_step.items()},
            "greedy/minimal": per_step["greedy"] / per_step["minimal_loop"],
            "smc+record/forward": per_step["smc+record"] / per_step["forward"]}


def alternatives_cost(model, prompt_text: str, n: int, length: int, block: int, tokens_per_step: int, repeats: int,
                      device: str) -> dict:
    """Recorded SR-SMC (τ = 1) with the top-k alternatives on (k = 5, the default) and off (k = 0): seconds per
    step, interleaved, and the trace's bytes per step and per commit (compact JSON, as `Trace.save` writes)."""
    prompt_tokens = len(model.encode(prompt_text))
    gen_length = length - prompt_tokens
    gen_length -= gen_length % block
    on = SamplerConfig(prompts=(prompt_text,), gen_length=gen_length, steps=gen_length // tokens_per_step,
                       block_length=block, n_particles=n, temperature=1.0, device=device, seed=0, top_k_alternatives=5)
    off = on.replace(top_k_alternatives=0)
    traces = {}
    runs = {"k=5": lambda: traces.__setitem__("k=5", decode(model, on).trace),
            "k=0": lambda: traces.__setitem__("k=0", decode(model, off).trace)}
    decode(model, on.replace(gen_length=block, steps=block // tokens_per_step))  # warm-up
    with torch.inference_mode():
        t = _interleaved_medians(runs, torch.device(device), repeats)
    sizes = {k: len(json.dumps(trace.to_dict(), separators=(",", ":")).encode()) for k, trace in traces.items()}
    commits = n * gen_length  # every row commits every generated position once
    return {"N": n, "L": prompt_tokens + gen_length, "block": block,
            "steps": on.steps, **{f"{k}_ms_per_step": 1000 * v / on.steps for k, v in t.items()},
            "on/off": t["k=5"] / t["k=0"], **{f"{k}_bytes_per_step": v / on.steps for k, v in sizes.items()},
            "alt_bytes_per_commit": (sizes["k=5"] - sizes["k=0"]) / commits}


def cache_costs(model, prompt_text: str, n: int, gen_length: int, block: int, tokens_per_step: int, repeats: int,
                device: str) -> list[dict]:
    """Seconds per step of whole SR-SMC runs (τ = 1, κ = 0.5, not recorded) with `cache` none, prefix and dual,
    interleaved; a cached run's steps include its one full forward per block (the cache's refresh)."""
    steps = gen_length // tokens_per_step
    base = SamplerConfig(prompts=(prompt_text,), gen_length=gen_length, steps=steps, block_length=block,
                         n_particles=n, temperature=1.0, device=device, seed=0)
    modes = ("none", "prefix", "dual")
    for mode in modes:  # warm-up
        decode(model, base.replace(gen_length=block, steps=block // tokens_per_step, cache=mode), record=False)
    t = _interleaved_medians({m: lambda m=m: decode(model, base.replace(cache=m), record=False) for m in modes},
                             torch.device(device), repeats)
    return [{"cache": m, "N": n, "L": len(model.encode(prompt_text)) + gen_length, "block": block, "steps": steps,
             "ms_per_step": 1000 * t[m] / steps, "none/this": t["none"] / t[m]} for m in modes]


# Runs in a subprocess under either checkout (the old one's API is a subset): one timed default run, or peak RSS.
_WORKER = r"""
import json, resource, sys, time, torch
torch.set_num_threads(1)
from sampler.config import SamplerConfig
from sampler.models import load_model
from sampler.smc import decode
job = json.loads(sys.argv[1])
model = load_model("austen-mdlm", "cpu", job["dtype"]) if job.get("dtype") else load_model("austen-mdlm")
cfg = SamplerConfig(**job["cfg"])
if job["kind"] == "time":
    decode(model, cfg.replace(gen_length=8, steps=8, block_length=8), record=True)  # warm-up
    t0 = time.process_time()
    decode(model, cfg, record=True)
    out = {"cpu_s": time.process_time() - t0}
else:
    class Stop(Exception): pass
    seen = []
    def stop(info):
        seen.append(info.step)
        if len(seen) == job["steps"]:
            raise Stop
    try:
        decode(model, cfg, observers=(stop,), record=False)
    except Stop:
        pass
    out = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
print(json.dumps(out))
"""


def _worker(root: Path, job: dict) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", _WORKER, json.dumps(job)], cwd=root, env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def vs_commit(old_root: Path, repeats: int) -> list[dict]:
    """CPU seconds of a full default-settings SR-SMC run (N = 4, 64 tokens, recorded) under the old checkout and
    ours (default dtype, and float32), one subprocess each, alternating."""
    here = Path(__file__).resolve().parents[1]
    cfg = {"prompts": [PROMPT], "seed": 0}
    sides = {"old (default = float32)": (old_root, {}), "new (default dtype)": (here, {}),
             "new float32": (here, {"dtype": "float32"})}
    times = {k: [] for k in sides}
    for _ in range(repeats):
        for name, (root, extra) in sides.items():
            times[name].append(_worker(root, {"kind": "time", "cfg": cfg, **extra})["cpu_s"])
    old = statistics.median(times["old (default = float32)"])
    return [{"code": k, "cpu_s": statistics.median(v), "speedup_vs_old": old / statistics.median(v)}
            for k, v in times.items()]


def peak_memory(old_root: Path | None, prompt_tokens: int, n: int, length: int, steps: int) -> list[dict]:
    """Peak RSS of a process running the first `steps` SR-SMC steps at N, L with the default single block."""
    here = Path(__file__).resolve().parents[1]
    gen_length = length - prompt_tokens
    cfg = {"prompts": [PROMPT], "gen_length": gen_length, "steps": gen_length, "n_particles": n, "seed": 0}
    roots = {"new (default dtype)": (here, {}), "new float32": (here, {"dtype": "float32"})}
    if old_root:
        roots["old (float32)"] = (old_root, {})
    return [{"code": k, "N": n, "L": length, "steps_run": steps,
             "peak_rss_mib": _worker(root, {"kind": "memory", "cfg": cfg, "steps": steps, **extra})["peak_rss_mib"]}
            for k, (root, extra) in roots.items()]


def throughput(model, prompt: str, ns: list[int], gen_length: int, device: str) -> list[dict]:
    """Tokens committed per second across particles, full SR-SMC runs."""
    rows = []
    for n in ns:
        cfg = SamplerConfig(prompts=(prompt,), gen_length=gen_length, steps=gen_length, n_particles=n,
                            temperature=1.0, device=device, seed=0)
        decode(model, cfg.replace(gen_length=8, steps=8, block_length=8), record=False)  # warm-up
        r = decode(model, cfg, record=False)
        rows.append({"N": n, "wall_s": r.wall_time_s, "steps_per_s": r.n_steps / r.wall_time_s,
                     "tokens_per_s": n * gen_length / r.wall_time_s})
    return rows


def trace_sizes(model, prompt: str, ns: list[int], lengths: list[int], device: str) -> list[dict]:
    """Trace file bytes, recorded steps and `state_at(T)` time for full runs (steps = gen length)."""
    rows = []
    for n in ns:
        for g in lengths:
            cfg = SamplerConfig(prompts=(prompt,), gen_length=g, steps=g, n_particles=n, temperature=1.0,
                                device=device, seed=0)
            trace = decode(model, cfg).trace
            size = len(json.dumps(trace.to_dict(), separators=(",", ":")).encode())
            t0 = time.perf_counter()
            trace.state_at(trace.n_steps)
            replay = time.perf_counter() - t0
            rows.append({"N": n, "gen_length": g, "T": trace.n_steps, "bytes": size,
                         "bytes_per_(NL+NT)": size / (n * g + n * trace.n_steps), "state_at_T_ms": 1000 * replay})
    return rows


def bf16_quality(model_name: str, n_prompts: int, seeds: int) -> list[dict]:
    """SR-SMC (N = 4, τ = 1, 64 tokens, blocks of 32) on the held-out prompts with float32 and bfloat16 weights:
    Gen PPL and repetition columns with 95 % bootstrap intervals, and bf16 paired against fp32."""
    import numpy as np

    from benchmarks.judge import GenPPLJudge
    from benchmarks.quality import N_BOOT, load_prompts, decode_cell, paired, summarise

    prompts, judge = load_prompts(n_prompts), GenPPLJudge()
    cell = {"label": "sr-smc N=4", "method": "smc", "n_particles": 4, "temperature": 1.0}
    base = {"gen_length": 64, "steps": 64, "block_length": 32}
    boot = np.random.default_rng(0).integers(0, n_prompts * seeds, (N_BOOT, n_prompts * seeds))
    units = {dtype: decode_cell(load_model(model_name, "cpu", dtype), judge, prompts, list(range(seeds)), cell,
                                base)["units"] for dtype in ("float32", "bfloat16")}
    rows = []
    for dtype, u in units.items():
        r = summarise(u, boot)
        rows.append({"weights": dtype, **{k: r[k] for k in ("gen_ppl", "repeated_3gram_rate", "repeated_4gram_rate",
                                                           "unigram_entropy")},
                     "gen_ppl_ci": "[{:.1f}, {:.1f}]".format(*r["gen_ppl_ci"]),
                     "rep4_ci": "[{:.3f}, {:.3f}]".format(*r["repeated_4gram_rate_ci"])})
    p = paired(units["bfloat16"], units["float32"], boot)
    rows.append({"weights": "bf16 / fp32 (paired)", "gen_ppl": p["gen_ppl_ratio"], "repeated_3gram_rate": float("nan"),
                 "repeated_4gram_rate": p["rep4_diff"], "unigram_entropy": p["entropy_ratio"],
                 "gen_ppl_ci": "[{:.3f}, {:.3f}]".format(*p["gen_ppl_ratio_ci"]),
                 "rep4_ci": "[{:+.3f}, {:+.3f}]".format(*p["rep4_diff_ci"])})
    return rows


def table(rows: list[dict], fmt: dict | None = None) -> str:
    fmt = fmt or {}
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(format(r[k], fmt.get(k, ".3g") if isinstance(r[k], float) else "")
                                       for k in keys) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="austen-mdlm", help="austen-mdlm, toy (the tests' bigram toy), a hub id or "
                    "llada-like-1b (random ~1 B transformer)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto", help="auto: bfloat16 where the hardware runs it fast")
    ap.add_argument("--sections", default="steps,commit,memory",
                    help="comma-separated: steps, commit (needs --against), memory, bf16 (quality), throughput, "
                    "trace, alternatives, cache (KV cache none / prefix / dual)")
    ap.add_argument("--blocks", default="32,0", help="block lengths of the steps section (0: one block)")
    ap.add_argument("--against", type=Path, help="checkout of an older commit to compare with (commit, memory)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (ratios are reported for 1)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n", type=int, default=16, help="rows (particles) of the steps section")
    ap.add_argument("--length", type=int, default=256, help="prompt + generation length of the steps section")
    ap.add_argument("--width", type=int, default=2048, help="llada-like-1b: model width (a multiple of 128)")
    ap.add_argument("--layers", type=int, default=16, help="llada-like-1b: layers")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    sections = set(args.sections.split(","))
    model = build_model(args.model, args.device, args.dtype, args.width, args.layers)
    prompt = TOY_PROMPT if args.model == "toy" else PROMPT
    weights = next(p.dtype for p in model.net.parameters()) if hasattr(model, "net") else args.dtype
    machine = (torch.cuda.get_device_name() if args.device.startswith("cuda")
               else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread(s)")
    print(f"# Speed: {model.name} on {args.device} ({machine}), weights {weights}, torch {torch.__version__}\n")
    out = {"machine": machine, "model": model.name, "device": args.device, "weights": str(weights)}

    if "steps" in sections:
        blocks = [int(b) or None for b in args.blocks.split(",")]
        rows = [step_costs(model, prompt, args.n, args.length, block, 8, args.repeats, args.device) for block in blocks]
        out["steps"] = rows
        clock = "wall ms after a synchronize" if args.device.startswith("cuda") else "CPU ms"
        print(f"## Per-step cost, whole runs (8 tokens per step), {clock}, median of {args.repeats} interleaved\n")
        print(table(rows, {"N": "d", "L": "d", "block": "d", "steps": "d"}))
    if "alternatives" in sections:
        row = alternatives_cost(model, prompt, 16, 256, 32, 8, args.repeats, args.device)
        out["alternatives"] = row
        print(f"\n## Top-k alternatives on (k = 5) vs off: SR-SMC recorded, 8 tokens per step, CPU ms, median of "
              f"{args.repeats} interleaved; trace bytes\n")
        print(table([row], {"N": "d", "L": "d", "block": "d", "steps": "d"}))
    if "cache" in sections:
        rows = [r for tokens in (1, 8) for r in cache_costs(model, prompt, 16, 256, 32, tokens, args.repeats,
                                                              args.device)]
        out["cache"] = rows
        print(f"\n## KV cache: SR-SMC N = 16, 256 tokens, blocks of 32, 1 or 8 tokens per step, ms per step, "
              f"median of {args.repeats} interleaved\n")
        print(table(rows, {"N": "d", "L": "d", "block": "d", "steps": "d"}))
    if "commit" in sections and args.against:
        rows = vs_commit(args.against, args.repeats)
        out["commit"] = rows
        print(f"\n## Default SR-SMC run (N = 4, 64 tokens, recorded) vs {args.against}, CPU s, 1 thread, "
              f"median of {args.repeats} alternating subprocesses\n")
        print(table(rows))
    if "memory" in sections:
        rows = peak_memory(args.against, len(model.encode(PROMPT)), 64, 512, 2)
        out["memory"] = rows
        print("\n## Peak RSS, N = 64, L = 512, default single block, first 2 steps\n")
        print(table(rows, {"N": "d", "L": "d", "steps_run": "d"}))
    if "bf16" in sections:
        rows = bf16_quality(args.model, 30, 1)
        out["bf16"] = rows
        print("\n## bfloat16 vs float32 weights: SR-SMC N = 4, τ = 1, 30 held-out prompts, 95 % bootstrap intervals\n")
        print(table(rows))
    if "throughput" in sections:
        tp = throughput(model, prompt, [1, 2, 4, 8, 16], 64, args.device)
        for r in tp:
            r["wall_vs_N1"] = r["wall_s"] / tp[0]["wall_s"]
        out["throughput"] = tp
        print("\n## Throughput vs N (SR-SMC, 64 tokens, 64 steps, wall time)\n")
        print(table(tp))
    if "trace" in sections:
        sizes = trace_sizes(model, prompt, [4, 8, 16], [64, 256], args.device)
        out["trace"] = sizes
        print("\n## Trace size and replay time (steps = gen length)\n")
        print(table(sizes))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


def build_model(name: str, device: str, dtype: str, width: int = 2048, layers: int = 16):
    if name == "toy":
        from sampler.models.toy import BigramToy
        return BigramToy(max_length=2048)
    if name == "llada-like-1b":
        from benchmarks.random_dllm import RandomDLLM
        return RandomDLLM(device=device, dtype=dtype, d_model=width, n_layers=layers)
    return load_model(name, device, dtype)


if __name__ == "__main__":
    main()
