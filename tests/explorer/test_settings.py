"""The run panel's table: derived from SamplerConfig, so one new field reaches the page, the request and the CLI."""
from dataclasses import dataclass

import sampler.__main__ as cli
import sampler.config
from explorer import request as request_module
from explorer import settings as settings_module
from explorer.request import RunRequest
from explorer.settings import BEYOND, ESSENTIALS, table
from sampler.config import SamplerConfig, _field


@dataclass(frozen=True)
class Extended(SamplerConfig):
    """SamplerConfig with one more field, as a contributor would add it."""

    eta: float = _field(0.25, "beyond the paper: a knob added later")


def test_every_config_field_but_the_fixed_ones_has_a_row_with_the_configs_default_and_help():
    rows = {s.name: s for s in table()}
    config = SamplerConfig()
    for name, help_text in SamplerConfig.help().items():
        if name in settings_module.APP_FIXED:
            assert name not in rows
            continue
        row = rows[name]
        assert row.help, name
        if name not in ("block_length", "chat_template"):  # the panel shows 32 (config: one block) and auto
            assert row.default == getattr(config, name), name
    assert rows["chat_template"].choices == ("auto", "on", "off") and rows["chat_template"].default == "auto"
    assert rows["resampling"].choices == ("multinomial", "systematic", "stratified", "residual")
    assert [s.name for s in table() if s.group == ESSENTIALS] == [
        "prompt", "model", "n_particles", "temperature", "gen_length", "steps", "block_length"]
    assert rows["n_particles"].maximum == 64 and table(max_particles=8)[2].maximum == 8


def test_a_new_config_field_reaches_the_panel_the_request_and_the_cli(monkeypatch):
    for module in (settings_module, request_module, cli, sampler.config):  # config: its replace() names the class
        monkeypatch.setattr(module, "SamplerConfig", Extended)
    row = next(s for s in table() if s.name == "eta")
    assert (row.group, row.widget, row.kind, row.default) == (BEYOND, "number", "float", 0.25)

    request = RunRequest.from_settings(dict(prompt="the cat", model="toy", eta=0.5))
    assert request.settings["eta"] == 0.5 and request.configs("cpu")["sr-smc"].eta == 0.5

    args = cli.parser().parse_args(["--eta", "0.75"])
    assert args.eta == 0.75

    from app import Sampler
    from explorer.limits import Limits
    from explorer.ui import build_ui
    from sampler.models.toy import BigramToy
    demo = build_ui(Sampler({"toy": BigramToy()}, Limits()), ["toy"])
    sample = next(d for d in demo.fns.values() if d.api_name == "sample")
    eta = next(c for c in sample.inputs if getattr(c, "label", None) == "Eta")
    assert eta.value == 0.25 and "knob added later" in eta.info
