"""The hub loader (sampler/models/hub.py, hf_registry.py): family detection, refusals, the model table."""
import json
import time

import huggingface_hub.constants
import pytest
import torch

from sampler.models import hf_registry
from sampler.models.dream import DreamDenoiser
from sampler.models.hf_adapters import MaskedLMDenoiser
from sampler.models.hub import (KNOWN_MODELS, NATIVE, ModelLoadError, detect_family, known_models_markdown,
                                load_hub_model)
from sampler.models.llada import LLaDADenoiser
from sampler.models.mdlm import BD3LMDenoiser, MDLMDenoiser
from tests.fixtures import tiny_models


@pytest.mark.parametrize("family, cls", [("llada", LLaDADenoiser), ("dream", DreamDenoiser), ("mdlm", MDLMDenoiser),
                                         ("bd3lm", BD3LMDenoiser)])
def test_family_is_detected_from_config_json(tiny, family, cls):
    assert type(tiny[family]) is cls


@pytest.mark.parametrize("family", tiny_models.FAMILIES)
def test_a_hub_id_loads_from_the_hub_cache_offline(tmp_path, monkeypatch, tiny, family):
    """The hub-id path: cache lookup, config.json, snapshot of weights and tokenizer (HF_HUB_OFFLINE=1)."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / f"models--srsmc-tests--tiny-{family}"
    tiny_models.save_tiny(repo / "snapshots" / revision, family, sharded=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = load_hub_model(f"srsmc-tests/tiny-{family}")
    assert type(model) is type(tiny[family]) and model.name == f"srsmc-tests/tiny-{family}"
    x = torch.tensor([model.encode("the cat") + [model.mask_id] * 4])
    torch.testing.assert_close(model.logits(x), tiny[family].logits(x), rtol=0, atol=1e-5)


def test_family_from_architectures_when_model_type_is_absent():
    assert detect_family("x", {"architectures": ["LLaDAModelLM"]}) == "llada"
    assert detect_family("x", {"model_type": "Dream"}) == "dream"
    assert detect_family("x", {"model_type": "bert", "architectures": ["BertForMaskedLM"]}) == "masked_lm"


def test_unknown_model_type_is_refused_listing_the_supported_ones(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(ModelLoadError, match=r"model_type 'gpt2' and architectures \['GPT2LMHeadModel'\].*"
                                             r"Supported: model_type 'llada' \(LLaDA\), 'Dream' \(Dream\), 'mdlm'"):
        load_hub_model(str(tmp_path), local_files_only=True)


def test_masked_lm_conventions(tmp_path):
    bert = load_hub_model(str(tiny_models.save_masked_lm(tmp_path / "bert")), local_files_only=True)
    tok = bert.tokenizer
    assert type(bert) is MaskedLMDenoiser and bert.mask_id == tok.mask_token_id == 4
    assert bert.encode("the cat")[0] == tok.cls_token_id and tok.sep_token_id not in bert.encode("the cat")
    x = torch.tensor([bert.encode("the cat") + [bert.mask_id] * 2])
    out = bert.logits(x)[0, -1]
    assert torch.isneginf(out[tok.all_special_ids]).all() and torch.isfinite(out[5:]).all()
    with pytest.raises(ValueError, match="no chat template"):
        bert.encode("the cat", chat=True)


def test_chat_is_refused_for_models_without_a_template(tiny, tiny_folders):
    with pytest.raises(ModelLoadError, match="chat=True but its tokenizer has no chat template"):
        load_hub_model(str(tiny_folders["mdlm"]), local_files_only=True, chat=True)
    with pytest.raises(ValueError, match="has no chat template: turn the chat template off"):
        tiny["bd3lm"].encode("the cat", chat=True)


def test_offline_uncached_id_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match="srsmc-tests/no-such-model: is not in the local cache and the hub "
                                             "is offline.*Run once with a network"):
        load_hub_model("srsmc-tests/no-such-model")
    assert time.perf_counter() - start < 2


def test_too_large_for_the_device_is_refused_before_loading(monkeypatch):
    monkeypatch.setattr(hf_registry, "available_memory_bytes", lambda device: 2 * 10**9)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a download attempt would fail differently
    with pytest.raises(ModelLoadError, match=r"GSAI-ML/LLaDA-8B-Instruct: its float32 weights need 32\.1 GB "
                                             r"but cpu has 2\.0 GB .*dtype='bfloat16'"):
        load_hub_model("GSAI-ML/LLaDA-8B-Instruct")


def test_known_models_table_renders_every_model():
    table = known_models_markdown()
    assert all(f"`{hub_id}`" in table for hub_id in KNOWN_MODELS)
    assert ("| LLaDA-8B-Instruct | `GSAI-ML/LLaDA-8B-Instruct` | 8.02 B | 16.0 GB |" in table
            and table.count("runs on 5.24 natively") == len(KNOWN_MODELS))


PUBLISHED_CONFIGS = {  # the real checkpoints' config.json values that fix the parameter count
    "llada": dict(d_model=4096, n_heads=32, n_kv_heads=32, n_layers=32, mlp_hidden_size=12288, vocab_size=126464,
                  embedding_size=126464, max_sequence_length=4096, rope_theta=500000.0, rms_norm_eps=1e-5),
    "dream": dict(hidden_size=3584, intermediate_size=18944, num_attention_heads=28, num_key_value_heads=4,
                  num_hidden_layers=28, vocab_size=152064, max_position_embeddings=131072, rope_theta=1e6,
                  rms_norm_eps=1e-6),
    "mdlm": dict(vocab_size=50258, hidden_dim=768, cond_dim=128, n_blocks=12, n_heads=12, model_length=1024),
    "bd3lm": dict(vocab_size=50258, hidden_dim=768, cond_dim=128, n_blocks=12, n_heads=12, model_length=1024,
                  block_size=4),
}


@pytest.mark.parametrize("family", list(PUBLISHED_CONFIGS))
def test_published_configs_build_networks_of_the_tabled_size(family):
    net = NATIVE[family].build_net(PUBLISHED_CONFIGS[family], family)  # on the meta device: no memory
    tabled = [m.params for m in KNOWN_MODELS.values() if m.family == family]
    assert tabled and tabled == pytest.approx([sum(p.numel() for p in net.parameters())] * len(tabled), rel=2e-3)


PAPER_MASK_IDS = {"mdlm": 50257, "bd3lm": 50257, "llada": 126336, "dream": 151666}


@pytest.mark.hub
@pytest.mark.parametrize("hub_id", list(KNOWN_MODELS))
def test_real_paper_model_conventions(hub_id):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_hub_model(hub_id, device=device)
    assert model.mask_id == PAPER_MASK_IDS[KNOWN_MODELS[hub_id].family]
    x = torch.tensor([model.encode("The capital of France is") + [model.mask_id] * 8])
    out = model.logits(x)
    assert torch.isneginf(out[..., model.mask_id]).all() and torch.isfinite(out[0, -1, ~model._never]).all()
