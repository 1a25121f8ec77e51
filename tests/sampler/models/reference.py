"""Hand-written forward passes of the paper architectures from a raw checkpoint state dict.

Plain tensor maths written from the published descriptions, sharing no code with `sampler/models/`:
the loaders' outputs are compared against these.
"""
import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file


def read_checkpoint(folder: Path) -> tuple[dict, dict]:
    """(state dict, config.json) of a single-file checkpoint folder."""
    return load_file(folder / "model.safetensors"), json.loads((folder / "config.json").read_text())


def visibility(x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
    """`[B, L, L]`: every query sees every real key (`key_mask`, default all) and itself."""
    B, L = x.shape
    key_mask = torch.ones(B, L, dtype=torch.bool) if key_mask is None else key_mask
    return key_mask[:, None, :].expand(B, L, L) | torch.eye(L, dtype=torch.bool)


def rms_norm(x, w, eps):
    return w * x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)


def rope(x, positions, theta):
    """Rotate-half rotary embedding of `x [B, H, L, d]` at `positions [B, L]`."""
    d = x.shape[-1]
    inv = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    ang = positions[:, None, :, None].double() * inv
    cos, sin = torch.cat([ang.cos(), ang.cos()], -1).float(), torch.cat([ang.sin(), ang.sin()], -1).float()
    rotated = torch.cat([-x[..., d // 2:], x[..., : d // 2]], -1)
    return x * cos + rotated * sin


def attention(q, k, v, visible):
    """`q [B, H, L, d]`, `k, v [B, H, L, d]`, `visible [B, L, L]` bool (query, key)."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~visible[:, None], -torch.inf)
    return scores.softmax(-1) @ v


def llama_like(w, n_layers, n_heads, n_kv, theta, eps, x, positions, visible, bias=False):
    """`w(name)` gives tensors named embed, norm, head and layer{i}.{n1,q,k,v,o,n2,gate,up,down}[_bias]."""
    B, L = x.shape
    h = w("embed")[x]
    for i in range(n_layers):
        p = f"layer{i}."
        a = rms_norm(h, w(p + "n1"), eps)

        def proj(name, heads):
            y = a @ w(p + name).T + (w(p + name + "_bias") if bias else 0)
            y = y.view(B, L, heads, -1).transpose(1, 2)
            return y.repeat_interleave(n_heads // heads, dim=1)

        q, k, v = proj("q", n_heads), proj("k", n_kv), proj("v", n_kv)
        out = attention(rope(q, positions, theta), rope(k, positions, theta), v, visible)
        h = h + out.transpose(1, 2).reshape(B, L, -1) @ w(p + "o").T
        m = rms_norm(h, w(p + "n2"), eps)
        h = h + (torch.nn.functional.silu(m @ w(p + "gate").T) * (m @ w(p + "up").T)) @ w(p + "down").T
    return rms_norm(h, w("norm"), eps) @ w("head").T


def dit(w, n_blocks, n_heads, x, visible):
    """MDLM/BD3-LM DiT at t = 0; `w(name)` gives the checkpoint's `backbone.` tensors."""
    B, L = x.shape
    t = torch.zeros(1, 128)
    c = torch.cat([t.cos(), t.sin()], -1)  # the sinusoid at t = 0
    c = torch.nn.functional.silu(c @ w("sigma_map.mlp.0.weight").T + w("sigma_map.mlp.0.bias"))
    c = c @ w("sigma_map.mlp.2.weight").T + w("sigma_map.mlp.2.bias")
    c = torch.nn.functional.silu(c)

    def ln(y, weight):
        return (y - y.mean(-1, keepdim=True)) / torch.sqrt(y.var(-1, unbiased=False, keepdim=True) + 1e-5) * weight

    h = w("vocab_embed.embedding")[x]
    D = h.shape[-1]
    positions = torch.arange(L).expand(B, L)
    for i in range(n_blocks):
        p = f"blocks.{i}."
        mod = (c @ w(p + "adaLN_modulation.weight").T + w(p + "adaLN_modulation.bias"))[:, None]
        sa, ca, ga, sm, cm, gm = mod.split(D, dim=-1)
        a = ln(h, w(p + "norm1.weight")) * (1 + ca) + sa
        q, k, v = (a @ w(p + "attn_qkv.weight").T).view(B, L, 3, n_heads, -1).unbind(2)
        q, k, v = (y.transpose(1, 2) for y in (q, k, v))
        out = attention(rope(q, positions, 10_000.0), rope(k, positions, 10_000.0), v, visible)
        h = h + ga * (out.transpose(1, 2).reshape(B, L, D) @ w(p + "attn_out.weight").T)
        m = ln(h, w(p + "norm2.weight")) * (1 + cm) + sm
        m = torch.nn.functional.gelu(m @ w(p + "mlp.0.weight").T + w(p + "mlp.0.bias"), approximate="tanh")
        h = h + gm * (m @ w(p + "mlp.2.weight").T + w(p + "mlp.2.bias"))
    final = c @ w("output_layer.adaLN_modulation.weight").T + w("output_layer.adaLN_modulation.bias")
    shift, scale = final[:, None].split(D, -1)
    h = ln(h, w("output_layer.norm_final.weight")) * (1 + scale) + shift
    return h @ w("output_layer.linear.weight").T + w("output_layer.linear.bias")
