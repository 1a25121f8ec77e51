"""Command line: run greedy confidence decoding and SR-SMC on a prompt, print both, save traces.

    python -m sampler --prompt "It is a truth universally acknowledged" --n-particles 4
"""
import argparse
import dataclasses
import typing
from pathlib import Path

from sampler.config import SamplerConfig
from sampler.models import DEFAULT_MODEL, load_model
from sampler.smc import SampleResult, decode


def config_arguments(parser: argparse.ArgumentParser) -> None:
    """One `--flag` per SamplerConfig field (prompts come from --prompt)."""
    hints = typing.get_type_hints(SamplerConfig)
    for f in dataclasses.fields(SamplerConfig):
        if f.name == "prompts":
            continue
        hint, kwargs = hints[f.name], {}
        if typing.get_origin(hint) is typing.Literal:
            kwargs["choices"] = typing.get_args(hint)
        elif hint in (int, float):
            kwargs["type"] = hint
        elif hint == int | None:
            kwargs["type"] = int
        parser.add_argument(f"--{f.name.replace('_', '-')}", default=f.default, **kwargs)


def report(label: str, result: SampleResult) -> None:
    trace = result.trace
    print(f"\n== {label}: {result.n_steps} steps, {result.forwards} sequence forwards, {result.wall_time_s:.2f} s")
    for p, prompt in enumerate(result.config.prompts):
        print(f"prompt {p}: {prompt!r}")
        for i, text in enumerate(result.texts[p]):
            mark = "*" if i == result.chosen[p] else " "
            print(f" {mark} particle {i} (score {result.scores[p, i]:.2f}): {text}")
        if result.config.n_particles > 1:
            ess = trace.ess_curve(p)
            print(f"   ESS min {ess.min():.2f} mean {ess.mean():.2f} of N = {result.config.n_particles}; "
                  f"resampled at steps {trace.resample_steps(p) or 'none'}; "
                  f"common ancestor at step {trace.common_ancestor_step(p)}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompt", action="append", help="prompt text (repeat for several prompts)")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="'austen-mdlm', a hub id or a local folder")
    ap.add_argument("--out", type=Path, default=Path("runs"), help="folder for the trace files")
    config_arguments(ap)
    args = ap.parse_args(argv)
    fields = {f.name for f in dataclasses.fields(SamplerConfig)} - {"prompts"}
    try:
        cfg = SamplerConfig(prompts=tuple(args.prompt or ["It is a truth universally acknowledged"]),
                            **{k: getattr(args, k) for k in fields})
    except ValueError as e:
        ap.error(str(e))
    model = load_model(args.model, cfg.device, cfg.dtype)
    args.out.mkdir(parents=True, exist_ok=True)
    for label, run_cfg in (("greedy", cfg.replace(n_particles=1)), ("sr-smc", cfg)):
        result = decode(model, run_cfg)
        report(label, result)
        print(f"   trace: {result.trace.save(args.out / f'{label}.json')}")


if __name__ == "__main__":
    main()
