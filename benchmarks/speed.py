"""Speed and memory of the sampler: SMC overhead per step, throughput vs N, trace size.

    python -m benchmarks.speed                 # embedded model, CPU (docs/benchmarks.md)
    python -m benchmarks.speed --quick         # a smaller grid, ~1 minute
    python -m benchmarks.speed --device cuda --dtype bfloat16 --model llada-like-1b

Prints markdown tables. Every ratio compares timings taken in the same run.
"""
import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from sampler.config import SamplerConfig
from sampler.models import load_model
from sampler.smc import ParticleState, Plan, decode, step
from sampler.trace import TraceRecorder

PROMPT = "It is a truth universally acknowledged"
TOY_PROMPT = "the cat sat on a mat"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _interleaved_medians(fns: dict, device, repeats: int) -> dict:
    """Median seconds of each function, timed in turn (A, B, C, A, B, C, ...) so load drifts hit all alike."""
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def step_overhead(model, prompt_text: str, n: int, length: int, block: int, repeats: int, device: str,
                  dtype: str) -> dict:
    """Seconds per step: bare forward (the block's logits); decoding step without SMC; SR-SMC step;
    SR-SMC step + recording.

    The SR-SMC step resamples every step (κ = 1, unequal weights): the worst case.
    """
    dev = torch.device(device)
    prompt = model.encode(prompt_text)
    gen_length = length - len(prompt)
    base = SamplerConfig(prompts=(prompt_text,), gen_length=gen_length, steps=gen_length, n_particles=n,
                         temperature=1.0, device=device, dtype=dtype, seed=0)
    x0 = torch.tensor([prompt + [model.mask_id] * gen_length])
    width = len(prompt)
    plan = Plan(step=1, block=0, block_slice=slice(width, width + block), k=1, last_block=False)

    def fresh() -> ParticleState:
        return ParticleState(x0.repeat(n, 1).to(dev), torch.zeros(n, x0.shape[1], device=dev),
                             torch.zeros(n, device=dev))

    def run(cfg, record: bool):
        gen = torch.Generator(device=dev).manual_seed(0)
        recorder = TraceRecorder(model, cfg, [prompt], x0, width) if record else None
        state = fresh()

        def one():
            nonlocal state
            state, info = step(model, state, plan, cfg, gen, None)
            if recorder:
                recorder(info)
        return one

    x = fresh().x
    with torch.no_grad():
        return _interleaved_medians({
            "forward": lambda: model.block_logits(x, None, plan.block_slice),
            "decode_step": run(base.replace(method="best_of_n"), False),
            "smc_step": run(base.replace(ess_threshold=1.0), False),
            "smc_step_recorded": run(base.replace(ess_threshold=1.0), True),
        }, dev, repeats)


def throughput(model, prompt: str, ns: list[int], gen_length: int, device: str, dtype: str) -> list[dict]:
    """Tokens committed per second across particles, full SR-SMC runs."""
    rows = []
    for n in ns:
        cfg = SamplerConfig(prompts=(prompt,), gen_length=gen_length, steps=gen_length, n_particles=n,
                            temperature=1.0, device=device, dtype=dtype, seed=0)
        decode(model, cfg.replace(gen_length=8, steps=8, block_length=8), record=False)  # warm-up
        r = decode(model, cfg, record=False)
        rows.append({"N": n, "wall_s": r.wall_time_s, "tokens_per_s": n * gen_length / r.wall_time_s})
    return rows


def trace_sizes(model, prompt: str, ns: list[int], lengths: list[int], device: str, dtype: str) -> list[dict]:
    """Trace file bytes, recorded steps and `state_at(T)` time for full runs (steps = gen length)."""
    rows = []
    for n in ns:
        for g in lengths:
            cfg = SamplerConfig(prompts=(prompt,), gen_length=g, steps=g, n_particles=n, temperature=1.0,
                                device=device, dtype=dtype, seed=0)
            trace = decode(model, cfg).trace
            size = len(json.dumps(trace.to_dict(), separators=(",", ":")).encode())
            t0 = time.perf_counter()
            trace.state_at(trace.n_steps)
            replay = time.perf_counter() - t0
            rows.append({"N": n, "gen_length": g, "T": trace.n_steps, "bytes": size,
                         "bytes_per_(NL+NT)": size / (n * g + n * trace.n_steps), "state_at_T_ms": 1000 * replay})
    return rows


def view_times(model, prompt: str, n: int, length: int, steps: int, device: str) -> list[dict]:
    """Milliseconds to build each explorer view for one step (median over 5 steps; figures include JSON)."""
    from explorer.runs import Run
    from explorer.views.canvas import canvas_html
    from explorer.views.ess import ess_figure
    from explorer.views.heatmap import heatmap_figure
    from explorer.views.tree import tree_figure
    from explorer.views.weights import weights_figure

    gen_length = length - len(model.encode(prompt))
    cfg = SamplerConfig(prompts=(prompt,), gen_length=gen_length, steps=steps, block_length=gen_length,
                        n_particles=n, temperature=1.0, seed=0, device=device)
    run = Run.from_trace(decode(model, cfg).trace)
    at = [round(i * run.trace.n_steps / 4) for i in range(5)]
    frames = {t: run.frame(t) for t in at}
    builders = {
        "state (state_at)": lambda t: run.frame(t),
        "canvas": lambda t: canvas_html(frames[t], 0),
        "tree": lambda t: tree_figure(run, t, 0).to_json(),
        "ess": lambda t: ess_figure(run, t).to_json(),
        "weights": lambda t: weights_figure(frames[t], 0).to_json(),
        "heatmap": lambda t: heatmap_figure(frames[t], 0).to_json(),
    }
    rows = []
    for name, build in builders.items():
        times = []
        for t in at:
            t0 = time.perf_counter()
            build(t)
            times.append(1000 * (time.perf_counter() - t0))
        rows.append({"view": name, "median_ms": statistics.median(times), "max_ms": max(times)})
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
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    model = build_model(args.model, args.device, args.dtype)
    prompt = TOY_PROMPT if args.model == "toy" else PROMPT
    torch.manual_seed(0)
    ns, lengths = ([1, 4, 16], [64, 256]) if args.quick else ([1, 4, 16, 64], [64, 256, 1024])
    machine = (torch.cuda.get_device_name() if args.device.startswith("cuda")
               else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads")
    print(f"# Speed: {model.name} on {args.device} ({machine}), {args.dtype}, torch {torch.__version__}\n")

    rows = []
    for n in ns:
        for length in lengths:
            if length > model.max_length:
                continue
            t = step_overhead(model, prompt, n, length, 32, args.repeats, args.device, args.dtype)
            rows.append({"N": n, "L": length, "forward_ms": 1000 * t["forward"],
                         "decode_step_ms": 1000 * t["decode_step"], "smc_step_ms": 1000 * t["smc_step"],
                         "smc+record_ms": 1000 * t["smc_step_recorded"],
                         "smc_overhead_%": 100 * (t["smc_step"] - t["decode_step"]) / t["forward"],
                         "smc+record_overhead_%": 100 * (t["smc_step_recorded"] - t["decode_step"]) / t["forward"],
                         "sampling_%": 100 * (t["decode_step"] - t["forward"]) / t["forward"]})
            print(f"  measured N={n} L={length}", flush=True)
    print(f"\n## Per-step cost (block of 32, median of {args.repeats} interleaved steps)\n")
    print("Overheads are relative to the bare forward: SMC = weighting, ESS, resampling every step; "
          "record = the trace observer; sampling = Gumbel draw + commit (any decoder pays it).\n")
    print(table(rows, {"N": "d", "L": "d"}))

    tp = throughput(model, prompt, [1, 2, 4, 8, 16] if args.quick else [1, 2, 4, 8, 16, 32, 64], 64, args.device,
                    args.dtype)
    for r in tp:
        r["wall_vs_N1"] = r["wall_s"] / tp[0]["wall_s"]
    print("\n## Throughput vs N (SR-SMC, 64 tokens, 64 steps)\n")
    print(table(tp))

    sizes = trace_sizes(model, prompt, [4, 8] if args.quick else [4, 8, 16], [64, 256], args.device, args.dtype)
    print("\n## Trace size and replay time (steps = gen length)\n")
    print(table(sizes))
    views = view_times(model, prompt, 16, 256, 64 if args.quick else 128, args.device)
    print("\n## Explorer view build time for one step, N = 16, L = 256 (target < 100 ms)\n")
    print(table(views))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "model": model.name, "device": args.device,
                                         "steps": rows, "throughput": tp, "trace": sizes, "views": views},
                                        indent=2))


def build_model(name: str, device: str, dtype: str):
    if name == "toy":
        from sampler.models.toy import BigramToy
        return BigramToy(max_length=2048)
    if name == "llada-like-1b":
        from benchmarks.random_dllm import RandomDLLM
        return RandomDLLM(device=device, dtype=dtype)
    return load_model(name, device, dtype)


if __name__ == "__main__":
    main()
