"""Write the model card `README.md` of a checkpoint folder from its training.json and fresh samples.

    python -m training.model_card [--folder assets/austen-mdlm]

Samples: greedy position order (one particle) and SR-SMC (N = 4) at τ = 0.7 and 1.0 on three
held-out prompts, seed 0, 48 tokens in 48 steps.
"""
import argparse
import json
import platform
from pathlib import Path

import torch

from sampler.config import SamplerConfig
from sampler.models.austen import ASSET_DIR, AustenDenoiser
from sampler.smc import decode

PROMPTS = [json.loads(line)["prompt"] for line in (ASSET_DIR.parent / "heldout_prompts.jsonl").read_text().splitlines()[:3]]


def samples(model) -> str:
    out = []
    for tau in (0.7, 1.0):
        for label, n in (("greedy position order (one particle; tokens sampled at τ)", 1), ("SR-SMC, N = 4", 4)):
            cfg = SamplerConfig(prompts=tuple(PROMPTS), gen_length=48, steps=48, n_particles=n, temperature=tau,
                                seed=0)
            result = decode(model, cfg, record=False)
            out.append(f"**{label}, τ = {tau}**\n")
            out += [f"- *{p}* {t}" for p, t in zip(PROMPTS, result.best_texts)]
            out.append("")
    return "\n".join(out)


def training_story(card: dict, folder: Path) -> tuple[str, str]:
    """The command(s) that reproduce the checkpoint, and one sentence on how training ended."""
    command, best = card["command"], card["best_step"]
    schedule_steps = int(command.split("--steps ")[1].split()[0])
    stopped = card.get("stopped_at_step", best)  # set when a run is ended by hand after its best checkpoint
    stop = f" --stop-after {best}" if best < schedule_steps else ""
    ended = (f"Training stopped at step {stopped} of a {schedule_steps}-step schedule (best checkpoint: step "
             f"{best}), so the learning rate had not fully decayed." if stopped < schedule_steps
             else f"Training ran the full {schedule_steps}-step schedule (best checkpoint: step {best}).")
    resumes = card.get("resumed") or []
    resumes = [resumes] if isinstance(resumes, dict) else resumes  # one resume, as cards first recorded it
    if not resumes:
        return command + stop, ended
    steps = [r["from_step"] for r in resumes]
    commands = [f"{resumes[0]['first_command']} --stop-after {steps[0]} --out {folder}"]
    for r, until in zip(resumes, steps[1:] + [None]):
        bf16 = " --bf16" if r.get("bf16_autocast") else ""
        commands.append(f"{command} --resume {folder}{bf16}" + (f" --stop-after {until}" if until else stop))
    ended += (f" The run was stopped for time (saving only fp16 weights) and resumed from those weights at "
              f"step{'s' if len(steps) > 1 else ''} {' and '.join(map(str, steps))}, each time with the "
              "learning-rate schedule and data order positioned there but a fresh AdamW state (moments at zero), "
              + ("with bfloat16 autocast for the forward pass" if resumes[-1].get("bf16_autocast") else "in float32")
              + " on one CPU thread. Validation is always float32.")
    return " && ".join(commands), ended


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, default=ASSET_DIR, help="checkpoint folder; the card is written there")
    folder = ap.parse_args().folder
    card = json.loads((folder / "training.json").read_text())
    cfg = json.loads((folder / "config.json").read_text())
    model = AustenDenoiser(folder)
    command, ended = training_story(card, folder if folder != ASSET_DIR else Path("assets/austen-mdlm"))
    history = "\n".join(f"| {h['step']} | {h['valid_nelbo']:.4f} | {h['minutes']:.0f} |" for h in card["history"])
    text = f"""---
license: cc0-1.0
language: en
tags: [masked-diffusion, mdlm, sr-smc]
---
# austen-mdlm

A small masked diffusion language model (MDLM objective, log-linear schedule, no time
conditioning) trained by this repository on Jane Austen's six novels. It is the offline
default model of SR-SMC Explorer: small enough to run on a laptop CPU, trained only on
public-domain text.

| | |
|---|---|
| corpus | Jane Austen's six novels from Debian's `r-cran-janeaustenr` (public domain; every 20th chapter held out for validation) |
| training tokens | {card['train_tokens']:,} ({card['unknown_rate']:.2%} unknown words) |
| tokenizer | word level, {cfg['vocab_size']:,} entries (words, punctuation, `¶` paragraph break, `[PAD] [UNK] [MASK] [EOS]`) |
| network | bidirectional transformer, {cfg['n_layers']} layers, width {cfg['d_model']}, {cfg['n_heads']} heads, RoPE, tied embeddings: {card['parameters'] / 1e6:.2f} M parameters |
| training window | {cfg['train_window']} tokens (longer inputs run through RoPE; quality beyond the window is untested) |
| weights | fp16 safetensors |
| command | `python -m training.build_corpus && {command}` |
| best step | {card['best_step']} |
| validation NELBO / token | **{card['valid_nelbo_per_token']:.4f}** nats (perplexity bound {2.718281828 ** card['valid_nelbo_per_token']:.1f}) |
| training time | {card['minutes']:.0f} minutes to the best step on a 2-core CPU, shared with other work |
| licence | weights and card CC0; corpus public domain |

The NELBO is the masked-diffusion bound on the negative log-likelihood (cross-entropy on masked
positions weighted by 1/t, t ~ U(0.001, 1), fixed masks), on held-out chapters.

Validation during training:

| step | valid NELBO / token | minutes |
|---|---|---|
{history}

## Samples

Seed 0, 48 tokens, 48 steps (one token per step, top-k by confidence), untempered confidence,
final pick by summed log-confidence; written by `python -m training.model_card` on
{platform.machine()} with torch {torch.__version__}. Prompts are held-out paragraphs' openings.

{samples(model)}
## Limits

Be clear about what this is: a 6.8 M-parameter model trained for {card['minutes'] / 60:.1f} hours on a
two-core CPU. It has Austen's vocabulary and short grammatical phrases ("she had been", "in the
course of the house"), not sentences with a plot. Confidence-ordered decoding makes that
worse: it commits frequent, safe tokens first, so samples run to chains of ", and she was
...". It is a model to watch the sampler on (weights, resampling and the repetition that
low temperature causes all show plainly), not a language model to rely on. Its vocabulary
holds only words seen a few times in the six novels; other words encode as `[UNK]`, which is
never generated. {ended}
"""
    (folder / "README.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
