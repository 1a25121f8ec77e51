"""Time the largest Run and the largest upload `explorer.limits.Limits` allows, on this machine.

    python -m tools.measure_limits [--quick] [--max-cost C] [--max-trace-cost C]

Sampling: for each corner of the allowed settings (many short rows, few long rows with a
whole-sequence block, the threshold policy) the script builds the `RunRequest` with the
largest cost under `max_cost`, checks it passes `Limits.check_request`, decodes it with the
default model as the app does, and prints its cost, CPU seconds (one torch thread) and wall
seconds. Upload: a synthetic trace at `max_trace_cost` per shape (wide, tall, long), through
`explorer.io.load_traces`, the browser player's JSON and a replay to its last step (the player
draws in the browser; this is the server's share). `--quick` runs the
smallest corner of each only (a smoke test of the script, not a measurement).
"""
import argparse
import time

import numpy as np
import torch

from explorer.limits import TIME_LIMIT_S, Limits
from explorer.request import RunRequest
from sampler.models import DEFAULT_MODEL, load_model
from sampler.smc import decode
from sampler.trace import StepRecord, Trace

PROMPT = "It is a truth universally acknowledged"
BASE = dict(prompt=PROMPT, model=DEFAULT_MODEL, temperature=1.0, policy="topk", ess_threshold=0.5,
            resampling="systematic", seed=0, best_of_n=True)


def largest_request(limits: Limits, prompt_tokens: int, n_particles: int, gen_length: int, block_length: int,
                    policy: str = "topk") -> RunRequest:
    """The request with the most steps (a multiple of the block count) that `limits` still allows."""
    blocks = gen_length // block_length
    steps = gen_length
    while steps >= blocks:
        req = RunRequest.from_settings({**BASE, "n_particles": n_particles, "gen_length": gen_length,
                                        "block_length": block_length, "steps": steps, "policy": policy})
        if limits.request_cost(req, prompt_tokens) <= limits.max_cost:
            limits.check_request(req, prompt_tokens)
            return req
        steps -= blocks
    raise ValueError(f"no allowed request with N = {n_particles}, gen length {gen_length}")


def time_request(model, limits: Limits, req: RunRequest, prompt_tokens: int) -> None:
    cpu, wall = time.process_time(), time.perf_counter()
    steps = 0
    for cfg in req.configs("cpu").values():
        steps += decode(model, cfg).n_steps
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    s = req.settings
    print(f"  N={s['n_particles']:>2} best-of-N={req.best_of_n} gen={s['gen_length']:>3} block={s['block_length']:>3} "
          f"steps={s['steps']:>3} policy={s['policy']:<9} cost={limits.request_cost(req, prompt_tokens):>9,} "
          f"({steps} steps taken)  cpu {cpu:6.1f} s  wall {wall:6.1f} s  "
          f"{'OK' if cpu <= TIME_LIMIT_S else 'OVER'}", flush=True)


def synthetic_trace(n_particles: int, length: int, n_steps: int, vocab: int = 8192, seed: int = 0) -> Trace:
    """A complete, valid trace: one prompt, every position committed over `n_steps`, resampling every step."""
    rng = np.random.default_rng(seed)
    N, L, T = n_particles, length, n_steps
    order = np.array_split(np.arange(L), T)
    steps = []
    for t, pos in enumerate(order, start=1):
        rows = np.repeat(np.arange(N), len(pos)).tolist()
        log_w = rng.normal(size=N).tolist()
        steps.append(StepRecord(step=t, block=0, rows=rows, positions=np.tile(pos, N).tolist(),
                                tokens=rng.integers(0, vocab - 1, N * len(pos)).tolist(),
                                log_conf=(-rng.random(N * len(pos))).tolist(), log_increment=log_w, log_weight=log_w,
                                ess=[1.5], resampled=[t < T], ancestors=[rng.integers(0, N, N).tolist()] if t < T else None))
    used = sorted({tok for s in steps for tok in s.tokens} | {vocab - 1})
    config = {"n_particles": N, "gen_length": L, "steps": min(T, L), "block_length": L, "policy": "topk", "method": "smc",
              "seed": seed, "prompts": [""]}
    return Trace(model="synthetic", config=config, prompts=[""], prompt_ids=[[]], initial=[[vocab - 1] * L],
                 prompt_width=0, mask_id=vocab - 1, vocab={i: f"w{i}" for i in used}, steps=steps,
                 final={"chosen": [0], "scores": [[0.0] * N], "texts": [["x"] * N]},
                 stats={"wall_time_s": 0.0, "forwards": N * T, "n_steps": T})


def time_upload(limits: Limits, n_particles: int, n_steps: int, folder) -> None:
    """Load a synthetic trace at `max_trace_cost` as the app does and build the player's JSON for it."""
    import json

    from explorer import io
    from explorer.payload import payload

    length = limits.max_trace_cost // (n_particles * n_steps)
    path = synthetic_trace(n_particles, length, n_steps).save(folder / "sr-smc.json")
    cpu, wall = time.process_time(), time.perf_counter()
    traces, _ = io.load_traces([path], limits)
    sent = json.dumps(payload(traces), allow_nan=False).encode("utf-8")
    trace = traces["sr-smc"]
    trace.state_at(trace.n_steps)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"  N={n_particles:>3} L={length:>6} T={n_steps:>4} cost={limits.trace_cost([trace]):>9,} "
          f"file {path.stat().st_size / 1e6:5.1f} MB, payload {len(sent) / 1e6:5.1f} MB; load + payload + "
          f"replay: cpu {cpu:5.1f} s  wall {wall:5.1f} s  {'OK' if cpu <= TIME_LIMIT_S else 'OVER'}", flush=True)


def main(argv: list[str] | None = None) -> None:
    import tempfile
    from pathlib import Path

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--max-cost", type=int, default=Limits.max_cost)
    ap.add_argument("--max-trace-cost", type=int, default=Limits.max_trace_cost)
    ap.add_argument("--skip-sampling", action="store_true")
    ap.add_argument("--skip-upload", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    limits = Limits(max_cost=args.max_cost, max_trace_cost=args.max_trace_cost)
    print(f"limits: max_cost {limits.max_cost:,}, max_trace_cost {limits.max_trace_cost:,} cell-steps; "
          f"one torch thread; target ≤ {TIME_LIMIT_S} s CPU each")
    if not args.skip_sampling:
        model = load_model(DEFAULT_MODEL)
        prompt_tokens = len(model.encode(PROMPT))
        corners = [(64, 32, 32, "topk"), (2, 512, 512, "topk"), (8, 64, 64, "threshold"), (16, 128, 32, "topk")]
        print(f"sampling ({DEFAULT_MODEL}, prompt of {prompt_tokens} tokens, greedy + SR-SMC + best-of-N):")
        for N, gen, block, policy in corners[:1] if args.quick else corners:
            req = largest_request(limits, prompt_tokens, N, gen, block, policy)
            time_request(model, limits, req, prompt_tokens)
    if not args.skip_upload:
        print("upload (synthetic trace at max_trace_cost, vocab 8192):")
        shapes = [(64, 1), (64, 100), (2, 1000), (4, 16)]
        with tempfile.TemporaryDirectory() as folder:
            for N, T in shapes[:1] if args.quick else shapes:
                time_upload(limits, N, T, Path(folder))


if __name__ == "__main__":
    main()
