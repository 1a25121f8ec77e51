"""The project's own masked diffusion LM: a small bidirectional transformer.

Plain PyTorch, RoPE, pre-norm, tied input/output embeddings and no time conditioning
(as MDLM and LLaDA run). Trained by `training/train_mdlm.py`; loaded by
`sampler.models.austen.AustenDenoiser`.
"""
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sampler.kv_cache import BlockCache


@dataclass
class NetConfig:
    vocab_size: int = 8192
    d_model: int = 256
    n_layers: int = 6
    n_heads: int = 4
    d_ff: int = 1024
    max_length: int = 1024  # RoPE extends past the training window; quality beyond it is untested
    train_window: int = 128

    def to_dict(self) -> dict:
        return asdict(self)


def rope_tables(length: int, head_dim: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation tables `[L, 1, head_dim/2, 2]` for `rotate`: (cos, cos) and (-sin, sin) per position and pair."""
    inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * inv_freq[None, :]
    cos, sin = angles.cos().to(dtype), angles.sin().to(dtype)
    return torch.stack((cos, cos), -1)[:, None], torch.stack((-sin, sin), -1)[:, None]


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of `x [..., L, H, head_dim]` (queries and keys stacked in any leading dims).

    Pairs (x[2i], x[2i+1]) rotate by position: one multiply-add against the pair-swapped input.
    """
    pairs = x.unflatten(-1, (-1, 2))
    return (pairs * cos + pairs.flip(-1) * sin).flatten(-2)


class Block(nn.Module):
    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model))

    def forward(self, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, attn_mask: torch.Tensor | None,
                positions: torch.Tensor | None = None, cache: BlockCache | None = None,
                index: int = 0) -> torch.Tensor:
        """`h [B, L, D]` -> `[B, L, D]`, or `[B, m, D]` at `positions [B, m]` only (queries, projection and
        MLP there; keys and values from every position). With `cache`, `h` holds `cache.queries` only and the
        other positions' keys/values (layer `index`) come from the cache."""
        B, L, D = h.shape
        H = self.n_heads
        normed = self.norm1(h)
        if positions is None:
            qkv = self.qkv(normed).view(B, L, 3, H, D // H)
            qk = rotate(qkv[:, :, :2], cos[:, None], sin[:, None])  # q and k in one rotation
            q, k, v = qk[:, :, 0], qk[:, :, 1], qkv[:, :, 2]
            h_out = h
        else:
            w_q, w_kv = self.qkv.weight.split((D, 2 * D))
            kv = F.linear(normed, w_kv).view(B, L, 2, H, D // H)
            k, v = rotate(kv[:, :, 0], cos, sin), kv[:, :, 1]
            pick = positions[..., None].expand(-1, -1, D)
            q = rotate(F.linear(normed.gather(1, pick), w_q).view(B, -1, H, D // H), cos[positions], sin[positions])
            h_out = h.gather(1, pick)
        k, v = k.transpose(1, 2), v.transpose(1, 2)
        if cache is not None:
            k, v = cache.update(k, v, index)
        attn = F.scaled_dot_product_attention(q.transpose(1, 2), k, v, attn_mask=attn_mask)  # bidirectional
        h_out = h_out + self.proj(attn.transpose(1, 2).flatten(2))
        return h_out + self.ff(self.norm2(h_out))


class AustenNet(nn.Module):
    """`forward(x [B, L], attention_mask [B, L] | None, positions [B, m] | None) -> hidden [B, L or m, d]`;
    `head(hidden) -> logits [..., V]`."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        nn.init.normal_(self.embed.weight, std=0.02)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None,
                positions: torch.Tensor | None = None, cache: BlockCache | None = None) -> torch.Tensor:
        """Hidden states `[B, L, d]`, or `[B, m, d]` at `positions [B, m]` (the last layer runs only there).
        With `cache` (`sampler.kv_cache`): of `cache.queries` only, or at `positions` (absolute) among them."""
        queries = slice(0, None) if cache is None else cache.queries
        h = self.embed(x[:, queries])
        cos, sin = rope_tables(x.shape[1], self.cfg.d_model // self.cfg.n_heads, x.device, h.dtype)
        cos, sin = cos[queries], sin[queries]
        if positions is not None:
            positions = positions - queries.start
        attn_mask = None if attention_mask is None else attention_mask[:, None, None, :]  # keys to attend to
        for i, block in enumerate(self.blocks):
            h = block(h, cos, sin, attn_mask, positions if i == len(self.blocks) - 1 else None, cache, i)
        return self.norm(h)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.embed.weight.T  # tied embeddings

    def logits(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self(x, attention_mask))
