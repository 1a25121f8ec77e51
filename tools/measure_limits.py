"""Time the largest Run and the largest upload `explorer.limits.Limits` allows, on this machine.

    python -m tools.measure_limits [--quick] [--max-cost C] [--max-trace-cost C]

Sampling: for each corner of the allowed settings (max N with short rows, few long rows with a
whole-sequence block up to max gen length, the threshold and random policies, N = 16 in blocks) and
each setting of the knobs that change a step's cost (none, the costliest no_repeat_ngram n,
repetition_penalty, both), the script builds the `RunRequest` with the largest cost under
`max_cost`, checks it passes `Limits.check_request`, decodes it with the default model as the app
does, and prints its cost, CPU seconds (one torch thread) and wall seconds. Upload: synthetic traces
at the edges of the upload limits (replay cost, steps, positions, particles, text), through
`explorer.io.load_traces`, the browser player's JSON, a replay to the last step and the HTML export
(the player draws in the browser; this is the server's share). The last lines print the worst CPU
seconds per Run and per upload. `--quick` runs one case of each only (a smoke test, not a measurement).
"""
import argparse
import time

import numpy as np
import torch

from explorer.limits import TIME_LIMIT_S, UPLOAD_LIMIT_S, Limits
from explorer.request import RunRequest
from sampler.models import DEFAULT_MODEL, load_model
from sampler.smc import decode
from sampler.trace import StepRecord, Trace, content_id

PROMPT = "It is a truth universally acknowledged"
BASE = dict(prompt=PROMPT, model=DEFAULT_MODEL, temperature=1.0, policy="topk", ess_threshold=0.5,
            resampling="systematic", seed=0, best_of_n=True)


def knob_grid(length: int) -> list[dict]:
    """The knob settings that change a step's cost: off, the costliest n-gram ban (n ≈ L/2 has the most
    window contexts), the repetition penalty, and both."""
    worst_n = max(2, (length + 1) // 2)
    return [{}, {"no_repeat_ngram": worst_n}, {"repetition_penalty": 1.5},
            {"no_repeat_ngram": worst_n, "repetition_penalty": 1.5}]


def largest_request(limits: Limits, prompt_tokens: int, n_particles: int, gen_length: int, block_length: int,
                    policy: str = "topk", **knobs) -> RunRequest:
    """The request with the most steps (a multiple of the block count) that `limits` still allows."""
    blocks = gen_length // block_length
    steps = gen_length
    while steps >= blocks:
        req = RunRequest.from_settings({**BASE, "n_particles": n_particles, "gen_length": gen_length,
                                        "block_length": block_length, "steps": steps, "policy": policy, **knobs})
        if limits.request_cost(req, prompt_tokens) <= limits.max_cost:
            limits.check_request(req, prompt_tokens)
            return req
        steps -= blocks
    raise ValueError(f"no allowed request with N = {n_particles}, gen length {gen_length}")


def time_request(model, limits: Limits, req: RunRequest, prompt_tokens: int) -> float:
    cpu, wall = time.process_time(), time.perf_counter()
    steps = 0
    for cfg in req.configs("cpu").values():
        steps += decode(model, cfg).n_steps
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    s = req.settings
    print(f"  N={s['n_particles']:>2} best-of-N={req.best_of_n} gen={s['gen_length']:>3} block={s['block_length']:>3} "
          f"steps={s['steps']:>3} policy={s['policy']:<9} cost={limits.request_cost(req, prompt_tokens):>9,} "
          f"ngram={s['no_repeat_ngram']:>3} rep={s['repetition_penalty']:.1f} ({steps} steps taken)  "
          f"cpu {cpu:6.1f} s  wall {wall:6.1f} s  {'OK' if cpu <= TIME_LIMIT_S else 'OVER'}", flush=True)
    return cpu


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
    trace = Trace(model="synthetic", config=config, prompts=[""], prompt_ids=[[]], initial=[[vocab - 1] * L],
                  prompt_width=0, mask_id=vocab - 1, vocab={i: f"w{i}" for i in used}, steps=steps,
                  final={"chosen": [0], "scores": [[0.0] * N], "texts": [["x"] * N]},
                  stats={"wall_time_s": 0.0, "forwards": N * T, "n_steps": T})
    trace.run_id = content_id(trace.to_dict())
    return trace


def extreme_traces(limits: Limits) -> list[tuple[str, Trace]]:
    """Valid traces at the edges of the upload limits: the replay cost with many or few steps, the most
    positions, the most particles the player draws (the CLI's N = 256 × 512 × 1), the most text."""
    cases = []
    for N, T in ((64, 1), (64, 100), (2, 1000), (4, 16)):
        cases.append((f"replay N={N} T={T}", synthetic_trace(N, limits.max_trace_cost // (N * T), T)))
    cases.append(("40,000 steps", synthetic_trace(2, 6, 40_000)))
    cases.append(("7,800 positions", synthetic_trace(64, 7_800, 1)))
    cases.append(("N=256 x 513 x 1 (CLI)", synthetic_trace(256, 513, 1)))
    texts = synthetic_trace(64, 8, 8)
    per_text = (limits.max_text_chars - 10_000) // 64
    texts.final["texts"] = [[(f"word{i} " * per_text)[:per_text] for i in range(64)]]
    cases.append((f"N=64 texts of {per_text:,} chars", texts))
    return cases


def time_upload(limits: Limits, name: str, trace: Trace, folder) -> float:
    """Load a trace file as the app does, build the player's JSON, replay it and export it as HTML."""
    import json

    from explorer import io
    from explorer.payload import payload
    from explorer.player import export_html

    path = trace.save(folder / "upload.json")
    cpu, wall = time.process_time(), time.perf_counter()
    traces, _ = io.load_traces([path], limits)
    sent = json.dumps(payload(traces), allow_nan=False).encode("utf-8")
    loaded = next(iter(traces.values()))
    loaded.state_at(loaded.n_steps)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    export = time.process_time()
    export_html(traces)
    export = time.process_time() - export
    print(f"  {name:<28} cost={limits.trace_cost([loaded]):>9,} file {path.stat().st_size / 1e6:5.1f} MB, payload "
          f"{len(sent) / 1e6:5.1f} MB; load + payload + replay: cpu {cpu:5.2f} s  wall {wall:5.2f} s  "
          f"{'OK' if cpu <= UPLOAD_LIMIT_S else 'OVER'}; HTML export cpu {export:5.2f} s", flush=True)
    return cpu


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
          f"one torch thread; target ≤ {TIME_LIMIT_S} s CPU per Run, ≤ {UPLOAD_LIMIT_S} s per upload")
    worst_run = worst_upload = 0.0
    if not args.skip_sampling:
        model = load_model(DEFAULT_MODEL)
        prompt_tokens = len(model.encode(PROMPT))
        corners = [(limits.max_particles, 32, 32, "topk"), (2, limits.max_gen_length, limits.max_gen_length, "topk"),
                   (8, 64, 64, "threshold"), (8, 64, 64, "random"), (16, 128, 32, "topk")]
        print(f"sampling ({DEFAULT_MODEL}, prompt of {prompt_tokens} tokens, greedy + SR-SMC + best-of-N):")
        for N, gen, block, policy in corners[:1] if args.quick else corners:
            for knobs in knob_grid(prompt_tokens + gen)[:1] if args.quick else knob_grid(prompt_tokens + gen):
                req = largest_request(limits, prompt_tokens, N, gen, block, policy, **knobs)
                worst_run = max(worst_run, time_request(model, limits, req, prompt_tokens))
    if not args.skip_upload:
        print("upload (synthetic traces at the edges of the limits, vocab 8192):")
        with tempfile.TemporaryDirectory() as folder:
            for name, trace in extreme_traces(limits)[:1] if args.quick else extreme_traces(limits):
                worst_upload = max(worst_upload, time_upload(limits, name, trace, Path(folder)))
    if not args.skip_sampling:
        print(f"worst Run: {worst_run:.1f} s CPU (target ≤ {TIME_LIMIT_S} s)")
    if not args.skip_upload:
        print(f"worst upload: {worst_upload:.2f} s CPU (target ≤ {UPLOAD_LIMIT_S} s)")


if __name__ == "__main__":
    main()
