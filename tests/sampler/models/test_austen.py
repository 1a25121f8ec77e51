import pytest
import torch

from sampler.models import load_model, word_tokenizer
from sampler.models.austen import AustenDenoiser
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
    model = AustenDenoiser(tiny_austen_folder)
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


def test_block_logits_equal_the_full_logits_of_the_block(tiny_austen_folder):
    model = AustenDenoiser(tiny_austen_folder)
    x = torch.tensor([model.encode("Emma said") + [model.mask_id] * 6] * 2)
    full = model.logits(x)
    assert torch.allclose(model.block_logits(x, None, slice(4, 7)), full[:, 4:7], atol=1e-5)
