"""SR-SMC Explorer: `python app.py` serves the page on the embedded default model, offline.

    python app.py [--host 127.0.0.1] [--port 7860] [--model austen-mdlm] [--max-concurrent-runs 1] [--threads 1]

This is the one place that runs the sampler. `Sampler` turns the run panel's settings into
one `SamplerConfig` per run (greedy, SR-SMC, optionally best-of-N: same prompt and seed),
checks them against the app's limits and the model, and decodes them; `explorer/` only
replays the traces. On a Hugging Face Space with ZeroGPU, `decode_all` is wrapped by
`spaces.GPU`; without the `spaces` package that wrapper is a no-op.
"""
import argparse
import os

import torch

from explorer.limits import Limits
from explorer.runs import LABELS
from explorer.ui import build_ui, launch_kwargs
from sampler.config import SamplerConfig
from sampler.denoiser import Denoiser
from sampler.models import DEFAULT_MODEL, load_model
from sampler.models.hf_registry import ModelLoadError
from sampler.smc import decode
from sampler.trace import Trace

try:
    import spaces

    gpu = spaces.GPU
except ImportError:
    def gpu(fn):
        return fn

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
WHOLE_NUMBERS = ("n_particles", "gen_length", "steps", "block_length", "seed", "resample_every")


def configs(settings: dict) -> dict[str, SamplerConfig]:
    """The run panel's settings as one config per role, all on the same prompt and seed.

    Raises ValueError naming the first invalid setting.
    """
    fields = {k: v for k, v in settings.items() if k not in ("prompt", "model", "best_of_n")}
    for name in WHOLE_NUMBERS:
        value = fields[name]
        if not isinstance(value, (int, float)) or value != int(value):
            raise ValueError(f"{name.replace('_', ' ')} = {value!r}: must be a whole number")
        fields[name] = int(value)
    if fields["n_particles"] < 2:
        raise ValueError(f"particles N = {fields['n_particles']}: use N ≥ 2 (N = 1 is the greedy run itself, "
                         "which every Run includes)")
    cfg = SamplerConfig(prompts=(str(settings["prompt"]),), device=DEVICE, **fields)
    out = {"greedy": cfg.replace(n_particles=1), "sr-smc": cfg}
    if settings.get("best_of_n"):
        out["best-of-n"] = cfg.replace(method="best_of_n")
    return out


def planned_steps(cfg: SamplerConfig) -> int:
    """Steps the schedule plans (the threshold policy may stop earlier)."""
    return cfg.gen_length if cfg.policy == "threshold" else cfg.steps


@gpu
def decode_all(model: Denoiser, cfgs: dict[str, SamplerConfig], progress) -> dict[str, Trace]:
    """Decode every config in turn, reporting progress over all of them; traces by role."""
    total, done, traces = sum(planned_steps(c) for c in cfgs.values()), 0, {}
    for role, cfg in cfgs.items():
        def observe(info, done=done, label=LABELS[role]):
            progress((done + info.step, total), desc=f"{label}: step {info.step}")
        traces[role] = decode(model, cfg, observers=(observe,)).trace
        done += planned_steps(cfg)
    return traces


class Sampler:
    """The app's sampling function: settings dict → traces by role, on models loaded at start."""

    def __init__(self, models: dict[str, Denoiser], limits: Limits):
        self.models, self.limits = models, limits

    def __call__(self, settings: dict, progress=lambda *a, **k: None) -> dict[str, Trace]:
        cfgs = configs(settings)
        self.limits.check(cfgs["sr-smc"])
        name = settings["model"]
        if name not in self.models:
            raise ValueError(f"model {name!r} is not offered by this app; choose one of {', '.join(self.models)}")
        model = self.models[name]
        prompt_length = len(model.encode(cfgs["sr-smc"].prompts[0]))
        cfgs["sr-smc"].check_model(model.max_length, [prompt_length], model.required_block_length)
        return decode_all(model, cfgs, progress)


def load_models(names: list[str]) -> dict[str, Denoiser]:
    """The models that load; a warning for each that does not."""
    models = {}
    for name in names:
        try:
            models[name] = load_model(name, DEVICE)
        except (FileNotFoundError, OSError, ValueError, ImportError, ModelLoadError) as e:
            print(f"warning: model {name!r} is unavailable ({e}); the app can still replay traces")
    return models


def main(argv: list[str] | None = None) -> None:
    """Parse the command line (a mistake: one line on stderr, exit code 2), load the models, serve the page."""
    def whole(lo: int, hi: int | None = None):
        def parse(text: str) -> int:
            try:
                value = int(text)
            except ValueError:
                value = None
            if value is None or value < lo or (hi is not None and value > hi):
                allowed = f"in [{lo}, {hi}]" if hi is not None else f"≥ {lo}"
                raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number {allowed}")
            return value
        return parse

    defaults = Limits()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.error = lambda message: ap.exit(2, f"{ap.prog}: error: {message}\n")  # one line, no usage block
    ap.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                    help="address to serve on (0.0.0.0 to accept other machines)")
    ap.add_argument("--port", type=whole(1, 65535), default=os.environ.get("GRADIO_SERVER_PORT", "7860"))
    ap.add_argument("--model", action="append", help=f"model to offer (repeatable; default {DEFAULT_MODEL}): "
                                                     "'austen-mdlm', a hub id or a local folder")
    ap.add_argument("--max-concurrent-runs", type=whole(1, 64), default=1, help="sampling jobs run at once")
    ap.add_argument("--threads", type=whole(0, 1024), default=1,
                    help="torch CPU threads (default 1: leaves a core to playback; 0 = torch's default)")
    ap.add_argument("--max-cost", type=whole(1), default=defaults.max_cost,
                    help="largest Run in cell-steps (rows × steps × sequence length, all its runs); the default "
                         "takes ≤ 60 s on a 2-core CPU: raise it on a GPU")
    ap.add_argument("--max-trace-cost", type=whole(1), default=defaults.max_trace_cost,
                    help="largest replay of loaded traces, in the same cell-steps")
    ap.add_argument("--max-particles", type=whole(2), default=defaults.max_particles, help="largest N offered")
    ap.add_argument("--max-gen-length", type=whole(1), default=defaults.max_gen_length,
                    help="longest generation offered")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    limits = Limits(max_cost=args.max_cost, max_trace_cost=args.max_trace_cost, max_particles=args.max_particles,
                    max_gen_length=args.max_gen_length)
    models = load_models(args.model or [DEFAULT_MODEL])
    demo = build_ui(Sampler(models, limits) if models else None, list(models), limits, args.max_concurrent_runs)
    try:
        demo.queue(max_size=64).launch(server_name=args.host, server_port=args.port, **launch_kwargs())
    except OSError as e:
        ap.exit(2, f"{ap.prog}: error: cannot serve on {args.host}:{args.port} ({e})\n")


if __name__ == "__main__":
    main()
