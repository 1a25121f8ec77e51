"""SR-SMC's per-step cost on an LLaDA-8B-shaped checkpoint: one command for a lent GPU.

    python -m benchmarks.gpu --out gpu.json                              # one H200: about 5 minutes in all
    python -m benchmarks.gpu --size tiny --device cpu --gen-length 64 --out tiny.json   # seconds (a test runs it)

1. Writes a checkpoint in the hub layout, as a user's LLaDA folder is (`config.json` with LLaDA-8B's published
   sizes: d 4096, 32 layers, 32 heads, MLP 12288, embedding 126,464, 8.02 B parameters; safetensors shards
   with the published key names; the tiny test tokenizer, so the text is word salad), with random bf16
   weights drawn on the device shard by shard (std 1/√fan-in, norms 1). A folder already holding the same
   config is reused. `--size tiny` writes the tests' tiny LLaDA instead.
2. Loads it with `load_model(folder, device, "auto")` (bfloat16 on a GPU).
3. For each N (gen length 256 in blocks of 32, 32 steps: 8 tokens per step) times, interleaved, median of
   `--repeats` whole runs, per step: `forward` the bare forward at the block's masked positions over the
   states an SR-SMC run visits; `minimal_loop` LLaDA's plain greedy loop (τ = 0, no bookkeeping);
   `greedy` our decode of N one-particle rows at τ = 0 (on CUDA also `greedy no-overlap`: without
   overlapping each step's host work with the next step's forward); `smc+record` SR-SMC (τ = 1) with the trace
   recorded, cache none, and with `cache = prefix / dual` when `SamplerConfig` has that field (skipped
   otherwise). Wall ms after a synchronize on CUDA, CPU ms on a CPU. Peak device memory per N.

Prints a table and the two ratios the project tracks (greedy / minimal loop at N = 1, SR-SMC / forward);
`--out` gets every number as JSON.
"""
import argparse
import dataclasses
import json
import platform
import resource
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from benchmarks.speed import step_costs, table
from sampler.config import SamplerConfig
from sampler.models import load_model
from sampler.smc import decode

LLADA_8B = dict(d=4096, f=12288, layers=32, heads=32, embedding=126_464, max_length=4096)
LLADA_MASK_ID = 126_336
SHARD_BYTES = 5 << 30  # the hub's usual shard size
PROMPT = "the cat sat on the mat and the dog ran in the red house"  # 14 words of the test tokenizer


def checkpoint(size: str) -> tuple[dict, dict, object]:
    """(config.json, {key: shape}, tokenizer) of the `size` LLaDA checkpoint (tests/fixtures/tiny_models.py)."""
    from tests.fixtures.tiny_models import family_tokenizer, llada_checkpoint

    tok = family_tokenizer("llada")
    if size == "tiny":
        return *llada_checkpoint(len(tok), tok.mask_token_id, max_length=LLADA_8B["max_length"]), tok
    return *llada_checkpoint(len(tok), LLADA_MASK_ID, **LLADA_8B), tok


def random_weight(key: str, shape: tuple[int, ...], gen: torch.Generator, device: str) -> torch.Tensor:
    """A bf16 tensor on `device`: 1 for norm weights, N(0, 1/fan-in) for matrices (activations stay O(1))."""
    if len(shape) == 1:
        return torch.ones(shape, dtype=torch.bfloat16, device=device)
    return torch.randn(shape, generator=gen, device=device, dtype=torch.bfloat16).mul_(shape[-1] ** -0.5)


def write_checkpoint(folder: Path, size: str, device: str) -> dict:
    """Write (or reuse) the checkpoint; returns its parameter count and the seconds spent writing."""
    config, shapes, tok = checkpoint(size)
    params = sum(torch.Size(s).numel() for s in shapes.values())
    index_file = folder / "model.safetensors.index.json"
    if (folder / "config.json").is_file() and index_file.is_file() \
            and json.loads((folder / "config.json").read_text()) == config:
        return {"params": params, "write_s": 0.0, "reused": True}
    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator(device).manual_seed(0)
    shards, current, current_bytes = [], {}, 0

    def flush():
        name = f"model-{len(shards) + 1:05d}.safetensors"
        save_file(current, folder / name, metadata={"format": "pt"})
        shards.append((name, list(current)))

    for key, shape in shapes.items():
        t = random_weight(key, shape, gen, device).cpu()
        if current and current_bytes + t.numel() * 2 > SHARD_BYTES:
            flush()
            current, current_bytes = {}, 0
        current[key], current_bytes = t, current_bytes + t.numel() * 2
    flush()
    index = {"metadata": {"total_size": 2 * params}, "weight_map": {k: name for name, keys in shards for k in keys}}
    index_file.write_text(json.dumps(index, indent=1))
    tok.save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps(config, indent=1))  # last: a complete folder has it
    return {"params": params, "write_s": time.perf_counter() - start, "reused": False}


def peak_memory_mib(device: torch.device) -> float:
    """Peak device memory since the last reset (CUDA), else this process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def overlap_changes_nothing(model, device: str) -> bool:
    """Whether a short SR-SMC run (N = 4, τ = 1, 4 steps) records the same trace with and without `overlap`."""
    cfg = SamplerConfig(prompts=(PROMPT,), gen_length=32, steps=4, n_particles=4, temperature=1.0, device=device)
    on, off = (decode(model, cfg, overlap=o).trace for o in (True, False))
    return on.steps == off.steps and on.final == off.final


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=("llada-8b", "tiny"), default="llada-8b")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--folder", type=Path, help="where the checkpoint is written (default /tmp/<size>-random)")
    ap.add_argument("--ns", default="1,4,8,16", help="particle counts N")
    ap.add_argument("--gen-length", type=int, default=256)
    ap.add_argument("--block-length", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, help="write every number here as JSON")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    device = torch.device(args.device)
    folder = args.folder or Path(f"/tmp/{args.size}-random")
    written = write_checkpoint(folder, args.size, args.device)
    t0 = time.perf_counter()
    model = load_model(str(folder), args.device, "auto")
    if device.type == "cuda":
        torch.cuda.synchronize()
    load_s = time.perf_counter() - t0
    weights = next(model.net.parameters()).dtype
    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    caches = ("prefix", "dual") if "cache" in {f.name for f in dataclasses.fields(SamplerConfig)} else ()
    import transformers

    print(f"# SR-SMC per step on {machine}: LLaDA-shaped {args.size} checkpoint, {written['params']:,} "
          f"parameters, random {weights} weights, torch {torch.__version__}, transformers {transformers.__version__}")
    print(f"checkpoint {folder}: {'reused' if written['reused'] else 'written'} in {written['write_s']:.1f} s, "
          f"loaded by load_model(folder, {args.device!r}, 'auto') in {load_s:.1f} s")
    if not caches:
        print("cache settings: skipped (this SamplerConfig has no `cache` field)")
    identical = overlap_changes_nothing(model, args.device)
    print(f"decode(overlap=True) and decode(overlap=False) record the same SR-SMC trace here: {identical}")
    clock = "wall ms per step after a synchronize" if device.type == "cuda" else "CPU ms per step"
    print(f"gen length {args.gen_length}, blocks of {args.block_length}, 8 tokens per step; {clock}, median of "
          f"{args.repeats} interleaved whole runs\n")

    rows = []
    for n in (int(v) for v in args.ns.split(",")):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        prompt_tokens = len(model.encode(PROMPT))
        r = step_costs(model, PROMPT, n, prompt_tokens + args.gen_length, args.block_length, 8, args.repeats,
                       args.device, caches)
        r["peak_mib"] = peak_memory_mib(device)
        r["smc_vs_N1"] = r["smc+record_ms"] / rows[0]["smc+record_ms"] if rows else 1.0
        for c in caches:
            r[f"none/{c}"] = r["smc+record_ms"] / r[f"smc+record cache={c}_ms"]
        rows.append(r)
        print(f"N = {n}: SR-SMC {r['smc+record_ms']:.1f} ms per step ({time.perf_counter() - start:.0f} s so far)",
              flush=True)

    print("\nforward = bare forward; minimal_loop = LLaDA's plain greedy loop; greedy = our N one-particle rows "
          "(τ = 0); smc+record = SR-SMC τ = 1 with the trace; none/X = how many times faster cache X is; peak_mib = "
          "peak device memory (CUDA) or process RSS (CPU)\n")
    print(table(rows, {"N": "d", "L": "d", "block": "d", "steps": "d", "peak_mib": ".0f"}))
    first = rows[0]
    print(f"\ngreedy / minimal loop at N = {first['N']}: {first['greedy/minimal']:.2f}× "
          f"({first['greedy_ms']:.1f} vs {first['minimal_loop_ms']:.1f} ms per step); SR-SMC / forward: "
          + ", ".join(f"N = {r['N']} {r['smc+record/forward']:.2f}×" for r in rows)
          + f"; total {time.perf_counter() - start:.0f} s")
    if "greedy no-overlap_ms" in first:
        print(f"greedy without overlapping steps (decode(overlap=False)) at N = {first['N']}: "
              f"{first['greedy no-overlap_ms'] / first['minimal_loop_ms']:.2f}× the minimal loop")
    out = {"size": args.size, "machine": machine, "device": args.device, "weights": str(weights),
           "torch": torch.__version__, "transformers": transformers.__version__, **written, "load_s": load_s,
           "gen_length": args.gen_length, "block_length": args.block_length, "caches": list(caches),
           "overlap_changes_nothing": identical, "rows": rows,
           "total_s": time.perf_counter() - start}
    if args.out:
        args.out.write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
