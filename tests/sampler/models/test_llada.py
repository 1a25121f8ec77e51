"""LLaDA on transformers' Llama layers (sampler/models/llada.py), on a tiny checkpoint in the hub layout."""
import torch

from sampler.config import SamplerConfig
from sampler.models.hub import load_hub_model
from sampler.smc import decode
from sampler.models.llada import LLaDADenoiser
from tests.fixtures import tiny_models
from tests.sampler.models import reference
from tests.sampler.models.conftest import assert_decodes

NAMES = {"embed": "wte", "norm": "ln_f", "head": "ff_out", "n1": "attn_norm", "q": "q_proj", "k": "k_proj",
         "v": "v_proj", "o": "attn_out", "n2": "ff_norm", "gate": "ff_proj", "up": "up_proj", "down": "ff_out"}


def llada_reference(folder, x, key_mask=None):
    state, cfg = reference.read_checkpoint(folder)

    def w(name):
        layer, _, part = name.rpartition(".")
        prefix = f"blocks.{layer.removeprefix('layer')}." if layer else ""
        return state[f"model.transformer.{prefix}{NAMES[part]}.weight"]

    positions = torch.arange(x.shape[1]).expand(x.shape)  # absolute: padding counts
    return reference.llama_like(w, cfg["n_layers"], cfg["n_heads"], cfg["n_kv_heads"], cfg["rope_theta"],
                                cfg["rms_norm_eps"], x, positions, reference.visibility(x, key_mask))


def test_loads_as_llada_with_the_config_mask_id(tiny):
    llada = tiny["llada"]
    assert type(llada) is LLaDADenoiser and llada.required_block_length is None
    assert llada.mask_id == llada.tokenizer.convert_tokens_to_ids("<|mdm_mask|>")
    assert llada.vocab_size == tiny_models.LLADA_EMBEDDING > len(llada.tokenizer)
    assert llada.max_length == tiny_models.MAX_LENGTH


def test_logits_match_a_hand_written_llada_forward(tiny, tiny_folders):
    llada = tiny["llada"]
    x = torch.tensor([llada.encode("the cat sat on the mat") + [llada.mask_id] * 5])
    ours, ref = llada.logits(x), llada_reference(tiny_folders["llada"], x)
    allowed = ~llada._never
    assert torch.allclose(ours[..., allowed], ref[..., allowed], atol=1e-4)
    assert torch.isneginf(ours[..., llada.mask_id]).all() and torch.isneginf(ours[..., len(llada.tokenizer):]).all()
    assert torch.isfinite(ours[..., llada.eos_id]).all()  # EOS stays drawable


def test_left_padding_hides_padded_keys(tiny, tiny_folders):
    llada = tiny["llada"]
    row = llada.encode("the cat sat") + [llada.mask_id] * 4
    x = torch.tensor([[llada.pad_id] * 2 + row, llada.encode("a dog ran on it") + [llada.mask_id] * 4])
    real = torch.ones_like(x, dtype=torch.bool)
    real[0, :2] = False
    ref = llada_reference(tiny_folders["llada"], x, real)
    allowed = ~llada._never
    assert torch.allclose(llada.logits(x, real)[..., allowed], ref[..., allowed], atol=1e-4)
    # rotary attention depends on position differences only: the padded row reads as the row alone
    alone = llada.logits(torch.tensor([row]))
    assert torch.allclose(llada.logits(x, real)[0, 2:, allowed], alone[0, :, allowed], atol=1e-4)


def test_attention_is_bidirectional(tiny):
    llada = tiny["llada"]
    x = torch.tensor([llada.encode("the cat sat on the mat")])
    y = x.clone()
    y[0, -1] = llada.tokenizer.convert_tokens_to_ids("dog")
    assert not torch.allclose(llada.logits(x)[0, 0], llada.logits(y)[0, 0])


def test_logits_at_reads_only_the_requested_positions(tiny):
    llada = tiny["llada"]
    x = torch.tensor([llada.encode("the cat sat") + [llada.mask_id] * 4] * 2)
    positions = torch.tensor([[3, 5], [6, 4]])
    full = llada.logits(x)
    at = llada.logits_at(x, None, positions)
    assert torch.allclose(at, full.gather(1, positions[..., None].expand(-1, -1, full.shape[-1])))
    assert torch.equal(llada.output_layer(llada.features_at(x, None, positions)), at)


def test_chat_template_switch(tiny, tiny_folders):
    llada = tiny["llada"]
    tok = llada.tokenizer
    assert llada.encode("the cat") == tok.convert_tokens_to_ids(["the", "cat"])
    assert llada.encode("the cat", chat=True) == tok.convert_tokens_to_ids(["<user>", "the", "cat", "<assistant>"])
    instruct = load_hub_model(str(tiny_folders["llada"]), local_files_only=True, chat=True)
    assert instruct.chat_default and instruct.encode("the cat") == llada.encode("the cat", chat=True)
    assert instruct.encode("the cat", chat=False) == llada.encode("the cat")


def test_decodes_greedy_best_of_n_and_sr_smc(tiny):
    assert_decodes(tiny["llada"])


def test_trace_records_the_template_actually_used(tiny_folders):
    instruct = load_hub_model(str(tiny_folders["llada"]), local_files_only=True, chat=True)
    config = SamplerConfig(prompts=("the cat",), gen_length=4, steps=4, n_particles=1, dtype="float32")
    used = decode(instruct, config).trace  # chat_template None: the model's default, recorded as what it was
    assert used.config["chat_template"] is True
    assert used.prompt_ids[0] == instruct.encode("the cat", chat=True)
    plain = decode(instruct, config.replace(chat_template=False)).trace
    assert plain.config["chat_template"] is False and plain.prompt_ids[0] == instruct.encode("the cat", chat=False)
