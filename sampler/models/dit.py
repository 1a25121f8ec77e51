"""The diffusion transformer (DiT) of MDLM and BD3-LM, on PyTorch's scaled_dot_product_attention.

Pre-norm blocks whose LayerNorms (weight only, float32) are modulated by adaLN from a timestep
embedding, rotary positions (rotate-half layout, base 10,000, over the whole head), GELU(tanh) MLP,
and an adaLN-modulated output layer. The sampler has no time: the conditioning is the embedding of
t = 0, which MDLM and BD3-LM also use when time conditioning is off. `block_size` set: block-causal
attention (position i sees j when j // block_size <= i // block_size), BD3-LM's sample mode.

Parameter names match the checkpoints' `backbone.*` keys: `vocab_embed.embedding` [V, D] (a bare
parameter), `sigma_map.mlp.{0,2}.{weight,bias}` ([C, 256], [C, C]), per block `norm1.weight`,
`attn_qkv.weight` [3D, D], `attn_out.weight` [D, D], `norm2.weight`, `mlp.0.{weight,bias}` [4D, D],
`mlp.2.{weight,bias}` [D, 4D], `adaLN_modulation.{weight,bias}` [6D, C], and
`output_layer.{norm_final.weight, linear.weight [V, D], linear.bias, adaLN_modulation.* [2D, C]}`.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from sampler.kv_cache import BlockCache

FREQUENCY_DIM = 256  # sinusoidal timestep features fed to sigma_map


class LayerNorm(nn.Module):
    """LayerNorm without bias, computed in float32."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (F.layer_norm(x.float(), x.shape[-1:]) * self.weight.float()).to(x.dtype)


class TimestepEmbedder(nn.Module):
    def __init__(self, cond_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(FREQUENCY_DIM, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """`t [B]` -> `[B, C]`: cos/sin features at periods up to 10,000, then the MLP."""
        half = FREQUENCY_DIM // 2
        freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        args = t.float()[:, None] * freqs[None]
        return self.mlp(torch.cat([args.cos(), args.sin()], dim=-1).to(self.mlp[0].weight.dtype))


class VocabEmbedding(nn.Module):
    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.embedding = nn.Parameter(torch.empty(vocab_size, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding[x]


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of `x [B, H, L, Dh]`, rotate-half layout; `cos`, `sin` `[L, Dh]`."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class DiTBlock(nn.Module):
    def __init__(self, dim: int, n_heads: int, cond_dim: int):
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = LayerNorm(dim)
        self.attn_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.attn_out = nn.Linear(dim, dim, bias=False)
        self.norm2 = LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))
        self.adaLN_modulation = nn.Linear(cond_dim, 6 * dim)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, c: torch.Tensor,
                attn_mask: torch.Tensor | None, cache: BlockCache | None = None, index: int = 0) -> torch.Tensor:
        """`x [B, L, D]` -> `[B, L, D]`; with `cache`, `x` holds `cache.queries` and the other positions'
        keys/values (layer `index`) come from the cache."""
        B, L, D = x.shape
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = self.adaLN_modulation(c)[:, None].chunk(6, dim=2)
        qkv = self.attn_qkv(modulate(self.norm1(x), shift_a, scale_a))
        q, k, v = qkv.view(B, L, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)  # each [B, H, L, Dh]
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        if cache is not None:
            k, v = cache.update(k, v, index)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        x = x + gate_a * self.attn_out(attn.transpose(1, 2).reshape(B, L, D))
        return x + gate_m * self.mlp(modulate(self.norm2(x), shift_m, scale_m))


class FinalLayer(nn.Module):
    def __init__(self, dim: int, vocab_size: int, cond_dim: int):
        super().__init__()
        self.norm_final = LayerNorm(dim)
        self.linear = nn.Linear(dim, vocab_size)
        self.adaLN_modulation = nn.Linear(cond_dim, 2 * dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c)[:, None].chunk(2, dim=2)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class DiT(nn.Module):
    """`hidden(x [B, L]) -> [B, L, D]`; `head(hidden [B, m, D]) -> logits [B, m, V]`; both at t = 0."""

    def __init__(self, vocab_size: int, hidden_dim: int, cond_dim: int, n_blocks: int, n_heads: int,
                 block_size: int | None = None):
        super().__init__()
        self.vocab_size, self.block_size = vocab_size, block_size
        with torch.device("meta"):
            self.vocab_embed = VocabEmbedding(vocab_size, hidden_dim)
            self.sigma_map = TimestepEmbedder(cond_dim)
            self.blocks = nn.ModuleList(DiTBlock(hidden_dim, n_heads, cond_dim) for _ in range(n_blocks))
            self.output_layer = FinalLayer(hidden_dim, vocab_size, cond_dim)
        head_dim = hidden_dim // n_heads
        inv_freq = 1.0 / 10_000 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def condition(self, device: torch.device) -> torch.Tensor:
        """adaLN conditioning `[1, C]` at t = 0."""
        return F.silu(self.sigma_map(torch.zeros(1, device=device)))

    def hidden(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None,
               cache: BlockCache | None = None) -> torch.Tensor:
        """`[B, L, D]`; with `cache` (`sampler.kv_cache`) of `cache.queries` only."""
        queries = slice(0, None) if cache is None else cache.queries
        h = self.vocab_embed(x[:, queries])
        L = x.shape[1]
        angles = torch.arange(L, device=x.device, dtype=torch.float32)[:, None] * self.inv_freq[None]
        angles = torch.cat((angles, angles), dim=-1)[queries]
        cos, sin = angles.cos().to(h.dtype), angles.sin().to(h.dtype)
        attn_mask = None
        if self.block_size is not None:
            block = torch.arange(L, device=x.device) // self.block_size
            attn_mask = block[queries, None] >= block[None, :]  # [Lq, L]: keys in this block or an earlier one
        c = self.condition(x.device)
        for i, blk in enumerate(self.blocks):
            h = blk(h, cos, sin, c, attn_mask, cache, i)
        return h

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.output_layer(hidden, self.condition(hidden.device))
