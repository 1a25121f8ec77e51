"""The project's own masked diffusion LM: a small bidirectional transformer.

Plain PyTorch, RoPE, pre-norm, tied input/output embeddings and no time conditioning
(as MDLM and LLaDA run). Trained by `training/train_mdlm.py`; loaded by
`sampler.models.austen.AustenDenoiser`.
"""
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


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
    """cos/sin tables `[L, head_dim/2]` for rotary position embeddings."""
    inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * inv_freq[None, :]
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate `[B, H, L, D]` queries/keys pairwise by position."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model))

    def forward(self, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                attn_mask: torch.Tensor | None) -> torch.Tensor:
        B, L, D = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(B, L, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # bidirectional: no causal mask
        h = h + self.proj(attn.transpose(1, 2).reshape(B, L, D))
        return h + self.ff(self.norm2(h))


class AustenNet(nn.Module):
    """`forward(x [B, L], attention_mask [B, L] | None) -> hidden [B, L, d]`; `head(hidden) -> logits [..., V]`."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        nn.init.normal_(self.embed.weight, std=0.02)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.embed(x)
        cos, sin = rope_tables(x.shape[1], self.cfg.d_model // self.cfg.n_heads, x.device, h.dtype)
        attn_mask = None if attention_mask is None else attention_mask[:, None, None, :]  # keys to attend to
        for block in self.blocks:
            h = block(h, cos, sin, attn_mask)
        return self.norm(h)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.embed.weight.T  # tied embeddings

    def logits(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self(x, attention_mask))
