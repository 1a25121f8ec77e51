"""Dream on transformers' Qwen2 layers (sampler/models/dream.py), on a tiny checkpoint in the hub layout."""
import json

import torch

from sampler.models.dream import DreamDenoiser
from sampler.models.hub import load_hub_model
from tests.fixtures import tiny_models
from tests.sampler.models import reference
from tests.sampler.models.conftest import assert_decodes

NAMES = {"embed": "model.embed_tokens", "norm": "model.norm", "head": "lm_head", "n1": "input_layernorm",
         "q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
         "n2": "post_attention_layernorm", "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}


def dream_reference(folder, x, key_mask=None, positions=None):
    """Unshifted logits: output i predicts token i + 1."""
    state, cfg = reference.read_checkpoint(folder)

    def w(name):
        layer, _, part = name.rpartition(".")
        part, _, kind = part.partition("_")
        prefix = f"model.layers.{layer.removeprefix('layer')}." if layer else ""
        return state[f"{prefix}{NAMES[part]}.{kind or 'weight'}"]

    positions = torch.arange(x.shape[1]).expand(x.shape) if positions is None else positions
    return reference.llama_like(w, cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["num_key_value_heads"],
                                cfg["rope_theta"], cfg["rms_norm_eps"], x, positions, reference.visibility(x, key_mask),
                                bias=True)


def test_loads_as_dream_with_grouped_kv_heads_and_the_config_mask_id(tiny, tiny_folders):
    dream = tiny["dream"]
    cfg = json.loads((tiny_folders["dream"] / "config.json").read_text())
    assert type(dream) is DreamDenoiser and cfg["num_key_value_heads"] < cfg["num_attention_heads"]
    assert dream.mask_id == cfg["mask_token_id"] == dream.tokenizer.convert_tokens_to_ids("<|mask|>")


def test_logits_are_a_hand_written_qwen2_forward_shifted_right_by_one(tiny, tiny_folders):
    dream = tiny["dream"]
    x = torch.tensor([dream.encode("the cat sat on the mat") + [dream.mask_id] * 5])
    ours, ref = dream.logits(x), dream_reference(tiny_folders["dream"], x)
    allowed = ~dream._never
    assert torch.allclose(ours[:, 1:, allowed], ref[:, :-1, allowed], atol=1e-4)  # position i reads output i - 1
    assert torch.allclose(ours[:, 0, allowed], ref[:, 0, allowed], atol=1e-4)
    assert torch.isneginf(ours[..., dream.mask_id]).all()


def test_left_padding_skips_positions_and_hides_padded_keys(tiny, tiny_folders):
    dream = tiny["dream"]
    row = dream.encode("the cat sat") + [dream.mask_id] * 4
    x = torch.tensor([[dream.pad_id] * 3 + row])
    real = torch.tensor([[False] * 3 + [True] * len(row)])
    positions = (real.long().cumsum(-1) - 1).clamp(min=0)
    ref = dream_reference(tiny_folders["dream"], x, real, positions)
    allowed = ~dream._never
    padded = dream.logits(x, real)
    assert torch.allclose(padded[:, 4:, allowed], ref[:, 3:-1, allowed], atol=1e-4)
    assert torch.allclose(padded[:, 4:, allowed], dream.logits(torch.tensor([row]))[:, 1:, allowed], atol=1e-4)


def test_attention_is_bidirectional(tiny):
    dream = tiny["dream"]
    x = torch.tensor([dream.encode("the cat sat on the mat")])
    y = x.clone()
    y[0, -1] = dream.tokenizer.convert_tokens_to_ids("dog")
    assert not torch.allclose(dream.logits(x)[0, 1], dream.logits(y)[0, 1])  # reads output 0


def test_decodes_greedy_best_of_n_and_sr_smc(tiny):
    assert_decodes(tiny["dream"])


def test_a_tokenizer_config_mapped_to_remote_code_loads_without_it(tmp_path, tiny):
    folder = tiny_models.save_tiny(tmp_path / "dream", "dream")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config |= {"tokenizer_class": "DreamTokenizer",  # defined only in the repo's tokenization_dream.py (absent here)
               "auto_map": {"AutoTokenizer": ["tokenization_dream.DreamTokenizer", None]}}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    dream = load_hub_model(str(folder), local_files_only=True)
    assert dream.encode("the cat", chat=True) == tiny["dream"].encode("the cat", chat=True)
    assert dream.mask_id == tiny["dream"].mask_id and dream.pad_id == tiny["dream"].pad_id
