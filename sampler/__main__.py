"""Command line: decode prompts with one method, print the texts, save traces and JSONL.

    python -m sampler --prompt "It is a truth universally acknowledged" --method smc --n-particles 4
    python -m sampler --prompts-file assets/heldout_prompts.jsonl --max-prompts 30 --method greedy \\
        --temperature 1.0 --jsonl runs/greedy.jsonl --no-trace
    python -m sampler --branch-from runs/sr-smc.json --at-step 20 --no-repeat-ngram 4   # what if, from step 20
    torchrun --standalone --nproc-per-node 2 -m sampler --prompts-file F --jsonl out.jsonl ...

Under torchrun the batches of --prompt-batch prompts are shared out over the ranks (gloo on CPU; NCCL with
--device cuda, each rank on cuda:LOCAL_RANK) and rank 0 writes the same JSONL and traces, in prompt order,
as one process would (`sampler.sweep`).

Methods: `greedy` commits positions greedily by confidence with one particle (at τ > 0 the
tokens are still sampled; only the order of positions is greedy), `best_of_n` runs N
independent particles and keeps the best by the final-pick score, `smc` is SR-SMC. Every
printed text and JSONL record names its method. User mistakes end with a one-line
`error: ...` and exit code 2.
"""
import argparse
import contextlib
import dataclasses
import json
import os
import sys
import typing
from pathlib import Path

import torch
from tqdm import tqdm

from sampler.branch import BranchStart, branch_config
from sampler.config import SWITCH, SamplerConfig
from sampler.models import DEFAULT_MODEL, load_model
from sampler.models.hub import ModelLoadError
from sampler.smc import SampleResult, decode
from sampler.sweep import Ranks, ranks, sweep
from sampler.trace import FileRefused, Trace, TraceFormatError, read_bounded

METHODS = ("greedy", "smc", "best_of_n")
LABELS = {"greedy": "greedy", "smc": "sr-smc", "best_of_n": "best-of-n"}
DEFAULT_PROMPT = "It is a truth universally acknowledged"
# Config fields the CLI sets itself (prompts from --prompt/--prompts-file, method from --method).
OWN_FIELDS = {"prompts", "method"}
MAX_PROMPTS_BYTES = 64 * 2**20  # a --prompts-file larger than this is refused unread
BYTES_PER_CELL = 4096  # memory a decode needs per row × position, about (features, state, trace), for check_memory


class UsageError(Exception):
    """A mistake in the command line or its inputs: reported in one line, exit code 2."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default (unless it is unset or the help names it), keeps the description's line breaks."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS \
                or "default" in text:
            return text
        return f"{text} (default: %(default)s)".lstrip()


def config_arguments(parser: argparse.ArgumentParser) -> None:
    """One `--flag` per SamplerConfig field, with the field's `metadata["help"]` when it has one."""
    hints = typing.get_type_hints(SamplerConfig)
    group = parser.add_argument_group("sampler settings (SamplerConfig fields)")
    for f in dataclasses.fields(SamplerConfig):
        if f.name in OWN_FIELDS:
            continue
        hint = hints[f.name]
        kwargs = {"default": f.default, "help": f"{f.metadata.get('help', '')} (default: %(default)s)".lstrip()}
        if typing.get_origin(hint) is typing.Literal:
            kwargs["choices"] = typing.get_args(hint)
        elif hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif hint == bool | None:
            kwargs.update(type=_optional_bool, metavar="{auto,on,off}",
                          help=kwargs["help"].replace("%(default)s", "auto"))
        elif hint in (int, float, str):
            kwargs["type"] = hint
        elif hint in (int | None, float | None):
            kwargs["type"] = typing.get_args(hint)[0]
        group.add_argument(f"--{f.name.replace('_', '-')}", **kwargs)


def _optional_bool(value: str) -> bool | None:
    if value not in SWITCH:
        raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(SWITCH)}")
    return SWITCH[value]


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m sampler", description=__doc__, formatter_class=HelpFormatter)
    source = ap.add_mutually_exclusive_group()
    source.add_argument("--prompt", action="append", help=f"prompt text, repeat for several (default: {DEFAULT_PROMPT!r})")
    source.add_argument("--prompts-file", type=Path,
                        help="prompts, one per line; a line starting with '{' is JSON with a \"prompt\" key")
    ap.add_argument("--max-prompts", type=int, default=0, help="use only the first this many prompts (0 = all)")
    ap.add_argument("--method", choices=METHODS, default="smc",
                    help="greedy = one particle, positions committed by confidence; best_of_n; smc = SR-SMC")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="'austen-mdlm', a hub id or a local folder")
    ap.add_argument("--prompt-batch", type=int, default=16, help="prompts decoded together in one batch")
    ap.add_argument("--out", type=Path, default=Path("runs"), help="folder for the trace files")
    ap.add_argument("--no-trace", action="store_true", help="do not record or save traces")
    ap.add_argument("--jsonl", type=Path, help="also write one JSON record per prompt to this file")
    ap.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                    help="progress bar on stderr (default: when stderr is a terminal)")
    config_arguments(ap)
    branch_arguments(ap)
    return ap


def branch_arguments(ap: argparse.ArgumentParser) -> None:
    group = ap.add_argument_group("branch a recorded run (what if, from step t)")
    group.add_argument("--branch-from", type=Path, metavar="TRACE",
                       help="continue this trace's run after --at-step with the settings given here (the rest as "
                            "recorded); with nothing changed it reproduces the run")
    group.add_argument("--at-step", type=int, metavar="T", help="the step after which the branch starts (0 = the start)")


def read_prompts(path: Path) -> list[str]:
    """Prompts from a text file (one per line) or JSONL (objects with a "prompt" key); blank lines skipped.
    A regular file of at most MAX_PROMPTS_BYTES: FIFOs and devices are refused unread."""
    try:
        lines = read_bounded(path, MAX_PROMPTS_BYTES, "prompts file").decode("utf-8").splitlines()
    except FileRefused as e:
        raise UsageError(f"--prompts-file {path}: {e}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--prompts-file {path}: cannot read it ({e.__class__.__name__}: {e})") from e
    prompts = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise UsageError(f"--prompts-file {path}, line {number}: invalid JSON ({e.msg})") from e
            if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
                raise UsageError(f"--prompts-file {path}, line {number}: no string \"prompt\" field")
            prompts.append(record["prompt"])
        else:
            prompts.append(line)
    if not prompts:
        raise UsageError(f"--prompts-file {path}: no prompts in it")
    return prompts


def build_config(args: argparse.Namespace, prompts: list[str]) -> SamplerConfig:
    """The SamplerConfig of the chosen method (greedy: method smc with one particle)."""
    fields = {f.name for f in dataclasses.fields(SamplerConfig)} - OWN_FIELDS
    settings = {k: getattr(args, k) for k in fields}
    if args.method == "greedy":
        if settings["n_particles"] not in (1, SamplerConfig.n_particles):
            raise UsageError(f"--method greedy runs one particle; --n-particles {settings['n_particles']} "
                             "needs --method smc or best_of_n")
        settings["n_particles"] = 1
    try:
        cfg = SamplerConfig(prompts=tuple(prompts), method="smc" if args.method == "greedy" else args.method,
                            **settings)
        cfg.check_device()
    except (ValueError, TypeError) as e:
        raise UsageError(str(e)) from e
    return cfg


def check_memory(cfg: SamplerConfig, batch: int, length: int) -> None:
    """Refuse a batch whose rows × positions cannot fit in this machine's memory (about BYTES_PER_CELL each:
    the state, the features of the masked positions, the recorded trace) before any allocation."""
    rows = min(batch, len(cfg.prompts)) * cfg.n_particles
    need = rows * length * BYTES_PER_CELL
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > have:
        raise UsageError(f"--n-particles {cfg.n_particles} × {min(batch, len(cfg.prompts))} prompt(s) per batch × "
                         f"{length} positions needs about {need / 2**30:,.0f} GiB; this machine has "
                         f"{have / 2**30:,.0f} GiB: lower --n-particles, --prompt-batch or --gen-length")


def check_output_paths(args: argparse.Namespace) -> None:
    """Create the trace folder and the JSONL file before any decoding, so a bad path costs nothing."""
    if not args.no_trace:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"--out {args.out}: cannot create the folder ({e.strerror or e})") from e
    if args.jsonl:
        try:  # a byte written and flushed finds a full disk (/dev/full) before any decoding
            with args.jsonl.open("w", encoding="utf-8") as f:
                f.write("\n")
                f.flush()
                if args.jsonl.is_file():
                    f.seek(0)
                    f.truncate()
        except OSError as e:
            raise UsageError(f"--jsonl {args.jsonl}: cannot write it ({e.strerror or e})") from e


def report(label: str, result: SampleResult, first_prompt: int) -> None:
    """Print each prompt's texts, the chosen one starred, under the method's label."""
    cfg = result.config
    print(f"\n== {label}: {len(cfg.prompts)} prompt(s), {result.n_steps} steps, {result.forwards} sequence "
          f"forwards, {result.wall_time_s:.2f} s")
    for p, prompt in enumerate(cfg.prompts):
        print(f"[{label}] prompt {first_prompt + p}: {prompt!r}")
        for i, text in enumerate(result.texts[p]):
            mark = "*" if i == result.chosen[p] else " "
            print(f"[{label}] {mark} particle {i} (score {result.scores[p, i]:.2f}): {text}")
        if cfg.n_particles > 1 and result.trace is not None:
            trace = result.trace
            ess = trace.ess_curve(p)
            print(f"[{label}]   ESS min {ess.min():.2f} mean {ess.mean():.2f} of N = {cfg.n_particles}; "
                  f"resampled at steps {trace.resample_steps(p) or 'none'}; "
                  f"common ancestor at step {trace.common_ancestor_step(p)}")


def records(label: str, result: SampleResult, model_name: str, first_prompt: int) -> list[dict]:
    """One JSONL record per prompt: the chosen text, every particle's text and score, the settings."""
    cfg = result.config.to_dict()
    cfg.pop("prompts")
    forwards = result.forwards // len(result.config.prompts)
    return [{"method": label, "prompt_index": first_prompt + p, "prompt": prompt, "text": result.best_texts[p],
             "chosen": result.chosen[p], "texts": result.texts[p], "scores": result.scores[p].tolist(),
             "forwards": forwards, "model": model_name, "config": cfg}
            for p, prompt in enumerate(result.config.prompts)]


def run(args: argparse.Namespace) -> None:
    prompts = read_prompts(args.prompts_file) if args.prompts_file else (args.prompt or [DEFAULT_PROMPT])
    if args.max_prompts < 0 or args.prompt_batch < 1:
        raise UsageError("--max-prompts must be ≥ 0 and --prompt-batch ≥ 1")
    prompts = prompts[:args.max_prompts or None]
    cfg = build_config(args, prompts)
    with contextlib.ExitStack() as stack:
        try:
            me = stack.enter_context(ranks(cfg.device))  # one process, or this rank of a torchrun sweep
        except ValueError as e:
            raise UsageError(str(e)) from e
        if me.leader:
            check_output_paths(args)
        try:
            model = load_model(args.model, cfg.device, cfg.dtype)
        except (ModelLoadError, OSError, ValueError, ImportError) as e:
            raise UsageError(f"--model {args.model}: {e}") from e
        try:
            lengths = [len(model.encode(p, chat=cfg.chat_template)) for p in prompts]
            cfg.check_model(model.max_length, lengths, model.required_block_length)
        except ValueError as e:
            raise UsageError(str(e)) from e
        check_memory(cfg, args.prompt_batch, max(lengths) + cfg.gen_length)
        decode_all(args, cfg, model, prompts, me)


def decode_all(args: argparse.Namespace, cfg: SamplerConfig, model, prompts: list[str], me: Ranks) -> None:
    """Decode the prompts in batches of --prompt-batch, sharded over the ranks (`sampler.sweep`); rank 0
    prints, saves the traces and appends the JSONL batch by batch in prompt order, as one process would."""
    label = LABELS[args.method]
    size = args.prompt_batch
    configs = [cfg.replace(prompts=tuple(prompts[i:i + size])) for i in range(0, len(prompts), size)]
    show = me.leader and (sys.stderr.isatty() if args.progress is None else args.progress)
    bar = tqdm(total=cfg.steps * len(configs), desc=label, unit="step", file=sys.stderr, disable=not show)

    def work(c: SamplerConfig) -> SampleResult:
        try:
            result = decode(model, c, observers=(lambda info: bar.update(),), record=not args.no_trace)
        except ValueError as e:  # e.g. a model without an attention mask given prompts of different lengths
            raise UsageError(f"{e} (or decode one prompt per batch: --prompt-batch 1)" if "equal length" in str(e)
                             else str(e)) from e
        except (MemoryError, RuntimeError) as e:
            if not isinstance(e, (MemoryError, torch.OutOfMemoryError)) and "alloc" not in str(e):
                raise
            raise UsageError(f"out of memory decoding {len(c.prompts)} prompt(s) × {cfg.n_particles} particles: "
                             "lower --n-particles, --prompt-batch or --gen-length") from e
        return dataclasses.replace(result, sequences=result.sequences.cpu(), scores=result.scores.cpu())

    for b, result in sweep(configs, work):
        bar.update((b + 1) * cfg.steps - bar.n)  # the threshold policy may finish in fewer steps
        first = b * size
        report(label, result, first)
        try:
            if result.trace is not None:
                last = first + len(result.config.prompts) - 1
                name = label if len(configs) == 1 else f"{label}-prompts-{first}-{last}"
                print(f"[{label}] trace: {result.trace.save(args.out / f'{name}.json')}")
            if args.jsonl:
                with args.jsonl.open("a", encoding="utf-8") as f:
                    f.writelines(json.dumps(r, ensure_ascii=False) + "\n"
                                 for r in records(label, result, model.name, first))
        except OSError as e:
            raise UsageError(f"cannot write the results ({e.strerror or e}): {e.filename or ''}") from e
    bar.close()
    if args.jsonl and me.leader:
        print(f"[{label}] JSONL: {args.jsonl} ({len(prompts)} records)")


_UNSET = object()
# options a branch takes from its trace: giving them is a mistake
NOT_FOR_BRANCHES = ("prompt", "prompts_file", "max_prompts", "prompt_batch", "jsonl")


def explicit_options(argv: list[str]) -> dict:
    """The options the command line gives, by dest (argparse sets a default only where the namespace has none)."""
    ap = parser()
    unset = {a.dest: None if isinstance(a, argparse._AppendAction) else _UNSET for a in ap._actions if a.dest != "help"}
    given = ap.parse_args(argv, namespace=argparse.Namespace(**unset))
    return {k: v for k, v in vars(given).items() if v is not unset[k]}


def run_branch(args: argparse.Namespace, given: dict) -> None:
    """--branch-from: decode the trace's run again from --at-step with the settings given, save the branch trace."""
    if args.at_step is None:
        raise UsageError("--branch-from needs --at-step T (the step after which the branch starts)")
    misplaced = [f"--{k.replace('_', '-')}" for k in NOT_FOR_BRANCHES if k in given]
    if misplaced:
        raise UsageError(f"{', '.join(misplaced)}: a branch continues the trace's prompts; drop these options")
    try:
        trace = Trace.load(args.branch_from)
    except TraceFormatError as e:
        raise UsageError(f"--branch-from: {e}") from e
    config_names = {f.name for f in dataclasses.fields(SamplerConfig)} - OWN_FIELDS
    changes = {k: v for k, v in given.items() if k in config_names}
    if "method" in given:
        changes["method"] = "smc" if args.method == "greedy" else args.method
    try:
        start = BranchStart.at(trace, args.at_step)
    except ValueError as e:
        raise UsageError(f"--at-step: {e}") from e
    try:
        cfg = branch_config(trace, **changes)
    except (ValueError, TypeError) as e:
        raise UsageError(str(e)) from e
    model_name = args.model if "model" in given else trace.model
    try:
        model = load_model(model_name, cfg.device, cfg.dtype)
    except (ModelLoadError, OSError, ValueError, ImportError) as e:
        raise UsageError(f"--model {model_name}: {e} (the trace's model; name another with --model)") from e
    if not args.no_trace:
        check_output_paths(args)
    try:
        result = decode(model, cfg, start=start, record=not args.no_trace)
    except ValueError as e:
        raise UsageError(str(e)) from e
    label = "greedy" if cfg.n_particles == 1 else LABELS[cfg.method]
    print(f"[{label}] branch of run {trace.run_id} ({args.branch_from}) after step {start.step}, changed: "
          f"{', '.join(f'{k}={v!r}' for k, v in changes.items()) or 'nothing (reproduces the run)'}")
    report(label, result, 0)
    if result.trace is not None:
        path = result.trace.save(args.out / f"{label}-branch-{trace.run_id}-at-{start.step}.json")
        print(f"[{label}] trace: {path} (run {result.trace.run_id})")


def main(argv: list[str] | None = None) -> None:
    ap = parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = ap.parse_args(argv)
    try:
        if args.branch_from is not None:
            run_branch(args, explicit_options(argv))
        else:
            run(args)
    except UsageError as e:
        ap.exit(2, f"{ap.prog}: error: {e}\n")


if __name__ == "__main__":
    main()
