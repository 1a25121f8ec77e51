import pytest
import torch

from sampler import config
from sampler.models import load_model, word_tokenizer
from sampler.models.austen import AustenDenoiser
from sampler.models.austen_net import rope_tables, rotate
from tests.sampler.conftest import TEXT

def test_detokenize_prints_english_spacing():
    tokens = ['"', "I", "do", "not", "know", ",", '"', "said", "Emma", ".", "¶", "Well", "-", "meaning", "!"]
    assert word_tokenizer.detokenize(tokens) == '"I do not know," said Emma.\nWell-meaning!'


def test_encode_decode_round_trip(tiny_austen_folder):
    model = load_model(str(tiny_austen_folder))
    assert isinstance(model, AustenDenoiser)
    for text in TEXT:
        assert model.decode(model.encode(text)) == text
    assert model.token_strings(model.encode("Emma said")) == ["Emma", "said"]
    assert model.encode("Zebra")[0] == model.unk_id


def test_special_tokens_are_never_drawn(tiny_austen_folder):
    model = AustenDenoiser(tiny_austen_folder)
    x = torch.tensor([model.encode("Emma said") + [model.mask_id] * 5])
    logits = model.logits(x)
    assert logits.shape == (1, 7, model.vocab_size)
    for special in word_tokenizer.SPECIAL_TOKENS:
        assert torch.isneginf(logits[..., model.tokenizer.token_to_id(special)]).all()
    assert torch.isfinite(logits[..., model.encode("Emma")[0]]).all()


def test_left_padding_with_attention_mask_changes_nothing(tiny_austen_folder):
    """RoPE depends on relative positions only, so masked-out left padding leaves real positions unchanged."""
    model = AustenDenoiser(tiny_austen_folder, dtype="float32")
    ids = model.encode("Emma said") + [model.mask_id] * 4
    plain = model.logits(torch.tensor([ids]))
    padded = model.logits(torch.tensor([[model.pad_id] * 3 + ids]),
                          torch.tensor([[False] * 3 + [True] * len(ids)]))
    assert torch.allclose(plain[0], padded[0, 3:], atol=1e-5)
    unmasked = model.logits(torch.tensor([[model.pad_id] * 3 + ids]))
    assert not torch.allclose(plain[0], unmasked[0, 3:], atol=1e-3)


def test_missing_weights_say_how_to_train(tmp_path):
    with pytest.raises(FileNotFoundError, match="training.train_mdlm"):
        AustenDenoiser(tmp_path)


def test_logits_at_equal_the_full_logits_there(tiny_austen_folder):
    """The last layer run only at the positions read gives the full forward's logits there (ragged per row)."""
    model = AustenDenoiser(tiny_austen_folder, dtype="float32")
    x = torch.tensor([model.encode("Emma said") + [model.mask_id] * 6] * 2)
    full = model.logits(x)
    positions = torch.tensor([[4, 5, 7], [2, 6, 3]])
    picked = model.logits_at(x, None, positions)
    assert picked.shape == (2, 3, model.vocab_size)
    assert torch.allclose(picked, full.gather(1, positions[..., None].expand(-1, -1, model.vocab_size)), atol=1e-5)
    features = model.features_at(x, None, positions)
    assert torch.equal(model.output_layer(features), picked)


def test_fused_rotation_equals_the_pairwise_formula():
    head_dim, L = 8, 5
    cos, sin = rope_tables(L, head_dim, "cpu", torch.float32)
    x = torch.randn(2, L, 3, head_dim, generator=torch.Generator().manual_seed(0))
    angles = torch.arange(L)[:, None] / (10000 ** (torch.arange(0, head_dim, 2) / head_dim))
    c, s = angles.cos()[:, None], angles.sin()[:, None]  # [L, 1, head_dim/2]
    x1, x2 = x[..., 0::2], x[..., 1::2]
    expected = torch.stack((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1).flatten(-2)
    assert torch.allclose(rotate(x, cos, sin), expected, atol=1e-6)


def test_auto_dtype_is_bfloat16_only_where_the_cpu_has_bf16_instructions(tiny_austen_folder, monkeypatch):
    monkeypatch.setattr(config, "cpu_has_fast_bf16", lambda: False)
    assert config.resolve_dtype("auto", "cpu") == torch.float32
    assert AustenDenoiser(tiny_austen_folder).net.embed.weight.dtype == torch.float32
    monkeypatch.setattr(config, "cpu_has_fast_bf16", lambda: True)
    assert config.resolve_dtype("auto", "cpu") == torch.bfloat16
    assert config.resolve_dtype("float32", "cpu") == torch.float32
    bf16 = AustenDenoiser(tiny_austen_folder)
    assert bf16.net.embed.weight.dtype == torch.bfloat16
    x = torch.tensor([bf16.encode("Emma said") + [bf16.mask_id] * 4])
    assert bf16.logits_at(x, None, torch.tensor([[2, 3]])).dtype == torch.bfloat16  # the step upcasts to float32
