"""Hub-layout checkpoints (sampler/models/checkpoint.py): sharded weights and refusals that name the key."""
import json

import pytest
import torch

from sampler.models.hub import ModelLoadError, load_hub_model
from tests.fixtures import tiny_models


def load(folder):
    return load_hub_model(str(folder), local_files_only=True, dtype="float32")


@pytest.mark.parametrize("family", tiny_models.FAMILIES)
def test_sharded_checkpoint_loads_like_the_single_file(tmp_path, tiny, family):
    folder = tiny_models.save_tiny(tmp_path / family, family, sharded=True)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) == 2 and not (folder / "model.safetensors").exists()
    x = torch.tensor([tiny[family].encode("the cat sat") + [tiny[family].mask_id] * 4])
    torch.testing.assert_close(load(folder).logits(x), tiny[family].logits(x), rtol=0, atol=1e-5)


def test_a_missing_shard_is_named(tmp_path):
    folder = tiny_models.save_tiny(tmp_path / "llada", "llada", sharded=True)
    (folder / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="shards that are not there: model-00002-of-00002.safetensors"):
        load(folder)


@pytest.mark.parametrize("family, key", [("llada", "model.transformer.blocks.1.ff_proj.weight"),
                                         ("dream", "model.layers.0.self_attn.k_proj.bias"),
                                         ("mdlm", "backbone.blocks.1.adaLN_modulation.weight"),
                                         ("bd3lm", "backbone.output_layer.linear.bias")])
def test_wrong_shape_is_refused_naming_the_key(tmp_path, family, key):
    folder = tiny_models.save_tiny(tmp_path / family, family, tensors_changes={key: torch.zeros(3, 3)})
    with pytest.raises(ModelLoadError, match=rf"checkpoint key '{key}' has shape \[3, 3\], the config implies"):
        load(folder)


@pytest.mark.parametrize("family, key", [("llada", "model.transformer.ln_f.weight"), ("dream", "lm_head.weight"),
                                         ("mdlm", "backbone.sigma_map.mlp.0.bias")])
def test_missing_key_is_refused_naming_it(tmp_path, family, key):
    folder = tiny_models.save_tiny(tmp_path / family, family, tensors_changes={key: None})
    with pytest.raises(ModelLoadError, match=rf"checkpoint key '{key}' is missing"):
        load(folder)


def test_unexpected_key_is_refused_naming_it(tmp_path):
    key = "model.transformer.blocks.0.att_proj.weight"  # OLMo's fused layout, not LLaDA's
    folder = tiny_models.save_tiny(tmp_path / "llada", "llada", tensors_changes={key: torch.zeros(96, 32)})
    with pytest.raises(ModelLoadError, match=rf"checkpoint key '{key}' \(model.safetensors\) is not part of this"):
        load(folder)


def test_config_too_small_for_the_weights_is_refused(tmp_path):
    folder = tiny_models.save_tiny(tmp_path / "dream", "dream", config_changes={"num_hidden_layers": 1})
    with pytest.raises(ModelLoadError, match=r"checkpoint key 'model.layers.1.[a-z_.]+' \(model.safetensors\) is not"):
        load(folder)


@pytest.mark.parametrize("family, field, value", [("llada", "alibi", True), ("llada", "weight_tying", True),
                                                  ("dream", "use_sliding_window", True), ("bd3lm", "adaln", False)])
def test_unpublished_config_variants_are_refused_naming_the_field(tmp_path, family, field, value):
    folder = tiny_models.save_tiny(tmp_path / family, family, config_changes={field: value})
    with pytest.raises(ModelLoadError, match=rf"config.json has {field} = {value!r}; this loader supports"):
        load(folder)


def test_recomputed_rotary_buffers_in_a_checkpoint_are_skipped(tmp_path, tiny):
    key = "model.layers.0.self_attn.rotary_emb.inv_freq"  # older Qwen2 files may carry it
    folder = tiny_models.save_tiny(tmp_path / "dream", "dream", tensors_changes={key: torch.ones(4)})
    x = torch.tensor([tiny["dream"].encode("the cat") + [tiny["dream"].mask_id] * 2])
    torch.testing.assert_close(load(folder).logits(x), tiny["dream"].logits(x), rtol=0, atol=1e-5)
