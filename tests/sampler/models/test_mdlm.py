"""MDLM and BD3-LM (sampler/models/mdlm.py, dit.py) on tiny checkpoints in the hub layout."""
import pytest
import torch

from sampler.config import SamplerConfig
from sampler.models.mdlm import subs
from tests.fixtures import tiny_models
from tests.sampler.models import reference
from tests.sampler.models.conftest import assert_decodes


def dit_reference(folder, x, block_size=None):
    """Raw network logits (before SUBS) of the checkpoint in `folder`."""
    state, cfg = reference.read_checkpoint(folder)
    B, L = x.shape
    visible = reference.visibility(x)
    if block_size:
        block = torch.arange(L) // block_size
        visible = (block[:, None] >= block[None, :]).expand(B, L, L)
    return reference.dit(lambda name: state["backbone." + name], cfg["n_blocks"], cfg["n_heads"], x, visible)


def prompt(model, text="the cat sat on the mat", n_masks=7):
    return torch.tensor([model.encode(text) + [model.mask_id] * n_masks])


@pytest.mark.parametrize("family", ["mdlm", "bd3lm"])
def test_mask_id_is_the_column_after_the_tokenizer(tiny, family):
    model = tiny[family]
    assert model.mask_id == len(model.tokenizer) == model.vocab_size - 1
    assert model.encode("the")[0] == model.tokenizer.bos_token_id and model.max_length == tiny_models.MAX_LENGTH


@pytest.mark.parametrize("family", ["mdlm", "bd3lm"])
def test_logits_are_a_hand_written_dit_forward_under_subs(tiny, tiny_folders, family):
    model = tiny[family]
    x = prompt(model)
    ref = dit_reference(tiny_folders[family], x, tiny_models.BD3_BLOCK if family == "bd3lm" else None)
    out = model.logits(x)
    masked = x[0] == model.mask_id
    assert torch.allclose(out[0, masked, :-1], ref[0, masked, :-1], atol=1e-4)
    assert torch.equal(out, subs(out, x, model.mask_id))


def test_subs_masks_the_mask_column_and_keeps_committed_tokens(tiny):
    mdlm = tiny["mdlm"]
    x = prompt(mdlm)
    out = mdlm.logits(x)
    assert torch.isneginf(out[..., mdlm.mask_id]).all()
    committed = x[0] != mdlm.mask_id
    assert torch.equal(out[0, committed].argmax(-1), x[0, committed])
    assert (torch.isfinite(out[0, committed]).sum(-1) == 1).all()  # certainty: every other id -inf
    assert torch.isfinite(out[0, ~committed, :-1]).all()


def test_mdlm_attention_is_bidirectional(tiny):
    mdlm = tiny["mdlm"]
    x = prompt(mdlm)
    y = x.clone()
    y[0, -1] = mdlm.tokenizer.convert_tokens_to_ids("dog")
    assert not torch.allclose(mdlm.logits(x)[0, -2], mdlm.logits(y)[0, -2])


def test_bd3lm_attends_block_causally_with_the_checkpoint_block_size(tiny):
    bd3 = tiny["bd3lm"]
    assert bd3.required_block_length == tiny_models.BD3_BLOCK
    x = prompt(bd3, "the cat sat", n_masks=8)  # 4 prompt ids, then blocks [4, 8) and [8, 12)
    assert x.shape[1] == 12
    later = x.clone()
    later[0, 9] = bd3.tokenizer.convert_tokens_to_ids("dog")
    earlier = x.clone()
    earlier[0, 5] = bd3.tokenizer.convert_tokens_to_ids("dog")
    base = bd3.logits(x)
    assert torch.equal(bd3.logits(later)[:, :8], base[:, :8])  # a later block is invisible
    assert not torch.allclose(bd3.logits(later)[:, 8:], base[:, 8:])  # ... but sees its own block
    assert not torch.allclose(bd3.logits(earlier)[:, 10], base[:, 10])  # and earlier blocks
    # a step reads the current block: the network runs on the visible prefix and that block only
    positions = torch.tensor([[5, 6]])
    assert torch.allclose(bd3.logits_at(x, None, positions), base[:, 5:7], atol=1e-5)
    with pytest.raises(ValueError, match="decodes in blocks of 4"):
        SamplerConfig(gen_length=8, steps=8, block_length=2).check_model(bd3.max_length, [4], bd3.required_block_length)


def test_bd3lm_prompts_fill_whole_blocks_with_endoftext(tiny):
    bd3, eos = tiny["bd3lm"], tiny["bd3lm"].tokenizer.bos_token_id
    assert bd3.encode("the cat sat on the mat") == [eos, *tiny["mdlm"].encode("the cat sat on the mat")]  # 7 -> 8
    assert all(len(bd3.encode(" ".join(["cat"] * n))) % bd3.required_block_length == 0 for n in range(1, 9))


@pytest.mark.parametrize("family", ["mdlm", "bd3lm"])
def test_padding_is_refused(tiny, family):
    model = tiny[family]
    x = prompt(model)
    with pytest.raises(ValueError, match="equal length"):
        model.logits(x, attention_mask=torch.arange(x.shape[1])[None] > 0)


def test_mdlm_decodes_greedy_best_of_n_and_sr_smc(tiny):
    assert_decodes(tiny["mdlm"])


def test_bd3lm_decodes_greedy_best_of_n_and_sr_smc(tiny):
    assert_decodes(tiny["bd3lm"], block_length=tiny_models.BD3_BLOCK)
