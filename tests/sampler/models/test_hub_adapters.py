"""The hub adapters on tiny offline fixtures (tests/fixtures/tiny_models.py), plus marked real-hub checks."""
import sys
import time

import pytest
import torch
from packaging.version import Version

from sampler.models import hf_registry
from sampler.models.hf_adapters import (BD3LMDenoiser, DreamDenoiser, LLaDADenoiser, MaskedLMDenoiser,
                                        MDLMDenoiser)
from sampler.models.hub import KNOWN_MODELS, ModelLoadError, known_models_markdown, load_hub_model
from tests.fixtures import tiny_models


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_hub")
    built = {family: tiny_models.save_remote_model(root / family, family) for family in tiny_models.FAMILIES}
    built["masked_lm"] = tiny_models.save_masked_lm(root / "masked_lm")
    return built


@pytest.fixture(scope="module")
def adapters(folders):
    return {family: load_hub_model(str(folder), local_files_only=True) for family, folder in folders.items()}


def allowed(adapter) -> torch.Tensor:
    return ~adapter._never


def prompt(adapter, text="hello world the cat", n_masks=4) -> torch.Tensor:
    return torch.tensor([adapter.encode(text) + [adapter.mask_id] * n_masks])


@pytest.mark.parametrize("family, cls", [("masked_lm", MaskedLMDenoiser), ("mdlm", MDLMDenoiser),
                                         ("bd3lm", BD3LMDenoiser), ("llada", LLaDADenoiser),
                                         ("dream", DreamDenoiser)])
def test_family_is_detected_from_config(adapters, family, cls):
    assert type(adapters[family]) is cls


@pytest.mark.parametrize("family", ["masked_lm", "mdlm", "bd3lm", "llada", "dream"])
def test_encode_decode_round_trip_and_finite_logits(adapters, family):
    adapter = adapters[family]
    x = prompt(adapter)
    out = adapter.logits(x)
    assert out.shape == (1, x.shape[1], adapter.vocab_size)
    assert torch.isneginf(out[..., adapter.mask_id]).all()
    assert torch.isfinite(out[..., allowed(adapter)]).all()
    assert adapter.decode(adapter.encode("hello world the cat")) == "hello world the cat"
    assert adapter.token_strings([adapter.mask_id])[0] in {"[MASK]", *tiny_models.MASK_TOKENS.values()}


def test_masked_lm_conventions(adapters):
    bert = adapters["masked_lm"]
    tok = bert.tokenizer
    assert bert.mask_id == tok.mask_token_id == 4
    assert bert.encode("hello")[0] == tok.cls_token_id and tok.sep_token_id not in bert.encode("hello")
    never = bert.logits(prompt(bert))[0, -1]
    assert torch.isneginf(never[tok.all_special_ids]).all() and len(tok.all_special_ids) == 5
    raw = bert.model(input_ids=prompt(bert)).logits[0, -1]
    assert torch.equal(never[5:], raw[5:])


@pytest.mark.parametrize("family", ["mdlm", "bd3lm"])
def test_mdlm_mask_is_the_extra_column_and_timesteps_are_zero(adapters, family):
    adapter = adapters[family]
    assert adapter.mask_id == len(adapter.tokenizer) == adapter.vocab_size - 1
    assert adapter.encode("hello")[0] == adapter.tokenizer.bos_token_id
    x = prompt(adapter)
    kwargs = {"sample_mode": True} if family == "bd3lm" else {}
    zero = adapter.model(input_ids=x, timesteps=torch.zeros(1), return_dict=False, **kwargs)
    one = adapter.model(input_ids=x, timesteps=torch.ones(1), return_dict=False, **kwargs)
    out = adapter.logits(x)
    assert torch.equal(out[..., :-1], zero[..., :-1]) and not torch.equal(out[..., :-1], one[..., :-1])
    with pytest.raises(ValueError, match="equal length"):
        adapter.logits(x, attention_mask=torch.arange(x.shape[1])[None] > 0)


def test_bd3lm_block_length_and_block_causal_sample_mode(adapters):
    bd3 = adapters["bd3lm"]
    assert bd3.required_block_length == tiny_models.BD3_BLOCK and bd3.max_length == tiny_models.MAX_POSITIONS
    assert bd3.model.config.attn_backend == "sdpa"  # the released default "flex" cannot sample
    x = torch.tensor([bd3.encode("the cat sat") + [bd3.mask_id] * 5])
    y = x.clone()
    y[0, 4:] = bd3.tokenizer.convert_tokens_to_ids("mat")
    a, b = bd3.logits(x), bd3.logits(y)
    assert torch.equal(a[:, :4], b[:, :4]) and not torch.equal(a[:, 4:], b[:, 4:])


def test_llada_mask_from_config_no_shift_and_chat_template(adapters, folders):
    llada = adapters["llada"]
    assert llada.mask_id == llada.model.config.mask_token_id == llada.tokenizer.convert_tokens_to_ids("<|mdm_mask|>")
    x = prompt(llada)
    raw = llada.model(x).logits
    assert torch.equal(llada.logits(x)[..., allowed(llada)], raw[..., allowed(llada)])
    assert torch.isfinite(llada.logits(x)[..., llada.eos_id]).all()  # EOS stays drawable
    chat = load_hub_model(str(folders["llada"]), local_files_only=True, chat=True)
    tok = llada.tokenizer
    assert chat.encode("hello") == tok.convert_tokens_to_ids(["<user>", "hello", "<assistant>"])
    assert llada.encode("hello") == tok.convert_tokens_to_ids(["hello"])
    with pytest.raises(ModelLoadError, match="mdlm prompts take no chat template"):
        load_hub_model(str(folders["mdlm"]), local_files_only=True, chat=True)


def test_dream_logits_shift_right_by_one(adapters):
    dream = adapters["dream"]
    assert dream.mask_id == dream.model.config.mask_token_id
    x = prompt(dream)
    raw = dream.model(x, "full", None).logits[..., allowed(dream)]
    out = dream.logits(x)[..., allowed(dream)]
    assert torch.equal(out[:, 0], raw[:, 0]) and torch.equal(out[:, 1:], raw[:, :-1])


def test_dream_left_padding_is_invisible(adapters):
    dream = adapters["dream"]
    x = prompt(dream)
    padded = torch.cat([torch.full((1, 3), dream.pad_id), x], dim=1)
    mask = torch.cat([torch.zeros(1, 3, dtype=torch.bool), torch.ones_like(x, dtype=torch.bool)], dim=1)
    # from the second real position on, the shifted logits come from real positions only
    assert torch.allclose(dream.logits(padded, mask)[:, 4:], dream.logits(x)[:, 1:], atol=1e-6)


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
        load_hub_model("GSAI-ML/LLaDA-8B-Instruct", allow_untested_transformers=True)


def test_paper_model_outside_its_transformers_range_lists_every_need(monkeypatch):
    monkeypatch.setattr(hf_registry, "available_memory_bytes", lambda device: 10**12)
    monkeypatch.setattr(hf_registry, "installed_transformers", lambda: "5.24.0")
    monkeypatch.setitem(sys.modules, "flash_attn", None)
    with pytest.raises(ModelLoadError) as err:
        load_hub_model("kuleshov-group/mdlm-owt")
    assert "needs transformers>=4.38.2,<5, installed is 5.24.0" in str(err.value)
    assert "imports flash_attn" in str(err.value) and "pip install 'transformers>=4.38.2,<5'" in str(err.value)


def test_missing_flash_attn_in_model_file(tmp_path, monkeypatch):
    folder = tiny_models.save_remote_model(tmp_path / "mdlm_flash", "mdlm", imports=("flash_attn",))
    monkeypatch.setitem(sys.modules, "flash_attn", None)  # missing even where it is installed
    with pytest.raises(ModelLoadError, match="imports flash_attn, which is not installed.*CUDA"):
        load_hub_model(str(folder), local_files_only=True)


@pytest.mark.skipif(Version(hf_registry.installed_transformers()) < Version("5"),
                    reason="skipping post_init() breaks loading only from transformers 5 on")
def test_remote_code_written_for_transformers_4_gets_a_version_hint(tmp_path):
    folder = tiny_models.save_remote_model(tmp_path / "llada_v4", "llada", post_init=False)
    with pytest.raises(ModelLoadError, match=r"could not be built with transformers .*all_tied_weights_keys.*"
                                             r"transformers>=4\.38\.2,<5"):
        load_hub_model(str(folder), local_files_only=True)


def test_known_models_table_renders_every_model():
    table = known_models_markdown()
    assert all(f"`{hub_id}`" in table for hub_id in KNOWN_MODELS)
    assert "| LLaDA-8B-Instruct | `GSAI-ML/LLaDA-8B-Instruct` | 8.02 B | 16.0 GB (bfloat16)" in table


PAPER_MASK_IDS = {"mdlm": 50257, "bd3lm": 50257, "llada": 126336, "dream": 151666}


@pytest.mark.hub
@pytest.mark.parametrize("hub_id", list(KNOWN_MODELS))
def test_real_paper_model_conventions(hub_id):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    adapter = load_hub_model(hub_id, device=device)
    assert adapter.mask_id == PAPER_MASK_IDS[KNOWN_MODELS[hub_id].family]
    x = torch.tensor([adapter.encode("The capital of France is") + [adapter.mask_id] * 8])
    out = adapter.logits(x)
    assert torch.isneginf(out[..., adapter.mask_id]).all() and torch.isfinite(out[0, -1, allowed(adapter)]).all()
