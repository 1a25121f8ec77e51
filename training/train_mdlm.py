"""Train the embedded Austen MDLM and write it to `assets/austen-mdlm/`.

    python -m training.build_corpus            # once: data/austen/{train,valid}.txt
    python -m training.train_mdlm --steps 3000 # ~1.3 s/step on 2 idle CPU cores
    python -m training.train_mdlm --steps 3000 --resume assets/austen-mdlm --out /tmp/resumed

Masked-diffusion objective (MDLM, log-linear schedule): draw t ~ U(eps, 1) per sequence
(low-discrepancy across the batch), mask each token with probability t, and minimise
(1/t) * sum of cross-entropies on the masked positions, per token. Its expectation is the
NELBO per token; validation uses fixed masks so checkpoints compare. The best checkpoint
by validation NELBO is written as fp16 safetensors with config.json and tokenizer.json.

`--resume FOLDER` continues a run from a written checkpoint: its weights (fp16, as saved),
tokenizer and network shape, at the step recorded in its training.json, with the learning-rate
schedule and the data/mask random stream positioned at that step. The optimizer state is not
saved with a checkpoint, so AdamW starts fresh (moments at zero) — the one difference from an
uninterrupted run besides the fp16 rounding of the weights.
"""
import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from sampler.models import word_tokenizer
from sampler.models.austen_net import AustenNet, NetConfig

EPS = 1e-3


def encode_stream(tok, paragraphs: list[str]) -> torch.Tensor:
    text = "".join(word_tokenizer.to_model_text(p + "\n") for p in paragraphs)
    return torch.tensor(tok.encode(text).ids, dtype=torch.long)


def nelbo(net: AustenNet, x: torch.Tensor, mask_id: int, gen: torch.Generator) -> torch.Tensor:
    """Per-token NELBO estimate for a batch `x [B, L]` (logits only at masked positions)."""
    B, L = x.shape
    t = (torch.rand(1, generator=gen) + torch.arange(B) / B) % 1 * (1 - EPS) + EPS  # [B]
    masked = torch.rand(B, L, generator=gen) < t[:, None]
    hidden = net(torch.where(masked, mask_id, x))
    ce = F.cross_entropy(net.head(hidden[masked]).float(), x[masked], reduction="none")
    weight = (1 / t)[:, None].expand(B, L)[masked]
    return (ce * weight).sum() / (B * L)


@torch.no_grad()
def validate(net, windows: torch.Tensor, mask_id: int, batch: int) -> float:
    net.eval()
    gen = torch.Generator().manual_seed(1234)  # same masks every time
    losses = [nelbo(net, windows[i:i + batch], mask_id, gen).item() for i in range(0, len(windows), batch)]
    net.train()
    return sum(losses) / len(losses)


def save(net: AustenNet, tok, out: Path, card: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in net.state_dict().items()}
    save_file(state, out / "model.safetensors")
    (out / "config.json").write_text(json.dumps({**net.cfg.to_dict(), "mask_token": "[MASK]"}, indent=2))
    tok.save(str(out / "tokenizer.json"))
    (out / "training.json").write_text(json.dumps(card, indent=2))


def nelbo_draws(gen: torch.Generator, n_train: int, window: int, batch: int, steps: int) -> None:
    """Advance `gen` past `steps` training steps' draws (batch starts, t, masks) without computing."""
    for _ in range(steps):
        torch.randint(0, n_train - window, (batch,), generator=gen)
        torch.rand(1, generator=gen)
        torch.rand(batch, window, generator=gen)


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up then cosine decay over `total` steps; `step` counts optimizer steps done."""
    return min(1, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("data/austen"))
    ap.add_argument("--out", type=Path, default=Path("assets/austen-mdlm"))
    ap.add_argument("--steps", type=int, default=3000, help="length of the learning-rate schedule")
    ap.add_argument("--stop-after", type=int, default=0,
                    help="end at this step (0 = --steps), e.g. to reproduce a run stopped early")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--resume", type=Path, default=None,
                    help="checkpoint folder to continue from (its weights, tokenizer, shape and best step)")
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast for the forward pass (CPU)")
    for field, value in NetConfig().to_dict().items():
        ap.add_argument(f"--{field.replace('_', '-')}", type=int, default=value)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    train_p = (args.data / "train.txt").read_text().splitlines()
    valid_p = (args.data / "valid.txt").read_text().splitlines()
    if args.resume:
        previous = json.loads((args.resume / "training.json").read_text())
        shape = json.loads((args.resume / "config.json").read_text())
        cfg = NetConfig(**{f: shape[f] for f in NetConfig().to_dict()})
        tok = Tokenizer.from_file(str(args.resume / "tokenizer.json"))
        first = previous["best_step"]
    else:
        previous, first = {}, 0
        cfg = NetConfig(**{f: getattr(args, f) for f in NetConfig().to_dict()})
        tok = word_tokenizer.train([word_tokenizer.to_model_text(p + "\n") for p in train_p], cfg.vocab_size)
    mask_id = tok.token_to_id("[MASK]")
    train_ids, valid_ids = encode_stream(tok, train_p), encode_stream(tok, valid_p)
    W = cfg.train_window
    valid_windows = valid_ids[: len(valid_ids) // W * W].view(-1, W)
    unk = (train_ids == tok.token_to_id("[UNK]")).float().mean().item()
    print(f"train {len(train_ids)} tokens ({unk:.2%} unknown), valid {len(valid_windows)} windows of {W}")

    net = AustenNet(cfg)
    if args.resume:
        net.load_state_dict({k: v.float() for k, v in load_file(args.resume / "model.safetensors").items()})
        nelbo_draws(gen, len(train_ids), W, args.batch, first)
        print(f"resumed from {args.resume} at step {first} (fresh AdamW state), valid NELBO/token "
              f"{validate(net, valid_windows, mask_id, args.batch):.4f}", flush=True)
    n_params = sum(p.numel() for p in net.parameters())
    print(f"{n_params / 1e6:.2f} M parameters")
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s + first, args.warmup, args.steps))
    best = previous.get("valid_nelbo_per_token", float("inf"))
    start, history = time.time(), list(previous.get("history", []))
    minutes_before = previous.get("minutes", 0.0)
    last = args.stop_after or args.steps
    for step in range(first + 1, last + 1):
        starts = torch.randint(0, len(train_ids) - W, (args.batch,), generator=gen)
        x = torch.stack([train_ids[s:s + W] for s in starts.tolist()])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = nelbo(net, x, mask_id, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.3f} {(time.time() - start) / (step - first):.2f} s/step",
                  flush=True)
        if step % args.eval_every == 0 or step == last:
            val = validate(net, valid_windows, mask_id, args.batch)
            minutes = minutes_before + (time.time() - start) / 60
            history.append({"step": step, "valid_nelbo": val, "minutes": minutes})
            print(f"step {step} valid NELBO/token {val:.4f} (ppl bound {math.exp(val):.1f})", flush=True)
            if val < best:
                best = val
                save(net, tok, args.out, {
                    "command": "python -m training.train_mdlm " + " ".join(
                        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                        if k not in ("data", "out", "threads", "stop_after", "resume", "bf16")),
                    "parameters": n_params, "best_step": step, "valid_nelbo_per_token": val,
                    "train_tokens": len(train_ids), "unknown_rate": unk, "history": history,
                    "minutes": minutes, "torch": torch.__version__,
                    **({"resumed": resume_chain(previous, first, args.bf16)} if args.resume else {}),
                })


def resume_chain(previous: dict, first: int, bf16: bool) -> list[dict]:
    """Every resume so far, oldest first, with the first run's command on each: a card can tell the whole story."""
    earlier = previous.get("resumed", [])
    earlier = [earlier] if isinstance(earlier, dict) else earlier  # cards written before chains were kept
    first_command = earlier[0]["first_command"] if earlier else previous["command"]
    return [*earlier, {"from_step": first, "optimizer": "fresh AdamW state (not saved at the stop)",
                       "bf16_autocast": bf16, "first_command": first_command}]


if __name__ == "__main__":
    main()
