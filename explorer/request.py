"""The run panel's settings as one typed, immutable request, built from untrusted UI or API values.

`RunRequest.from_settings(settings)` checks every value before anything runs and raises
`ValueError` naming the setting; `request.configs(device)` gives one `SamplerConfig` per
run (greedy, SR-SMC, optionally best-of-N), all on the same prompt and seed.

The settings a request carries are the run panel's table (`explorer.settings`): `SamplerConfig`'s
own fields minus the ones the app fixes (`prompts`, `method`, `device`, `dtype`), so a field added to
the config flows through here without an edit; each value is coerced by the field's annotation (whole number, real number,
string choice, bool).
"""
import math
import typing
from dataclasses import MISSING, dataclass, fields
from types import MappingProxyType

from explorer.settings import APP_FIXED, REQUEST_ONLY, config_fields, kind_of  # noqa: F401 (tests read APP_FIXED here)
from sampler.config import SamplerConfig

INT64_MAX = 2**63 - 1  # torch seeds and tensor sizes are 64-bit


def _kind(annotation) -> str:
    """'int', 'float', 'bool' or 'str' (Literal choices) for a field's annotation; Optional unwrapped."""
    kind = kind_of(annotation)
    return "bool" if kind == "switch" else kind


def _optional(annotation) -> bool:
    return type(None) in typing.get_args(annotation)


def _label(name: str) -> str:
    return name.replace("_", " ")


def _coerce(name: str, value, annotation):
    """`value` as the field's type, or ValueError naming the field."""
    if value is None and _optional(annotation):
        return None
    kind = _kind(annotation)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError(f"{_label(name)} = {value!r}: must be true or false")
    if kind == "str":
        if isinstance(value, str):
            return value
        raise ValueError(f"{_label(name)} = {value!r}: must be a string")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{_label(name)} = {value!r}: must be a number")
    if not math.isfinite(value):
        raise ValueError(f"{_label(name)} = {value!r}: must be a finite number")
    if kind == "float":
        return float(value)
    if value != int(value):
        raise ValueError(f"{_label(name)} = {value!r}: must be a whole number")
    if abs(int(value)) > INT64_MAX:
        raise ValueError(f"{_label(name)} = {value!r}: must be a whole number of at most 2^63 − 1")
    return int(value)


def check_raw(name: str, value) -> None:
    """Refuse a number setting's raw API value before a UI component rounds or converts it (Gradio turns
    N = 2.5 into 2 and fails on NaN or strings without a message): ValueError naming the setting. Settings that
    are not numbers pass; their own coercion comes in `RunRequest.from_settings`."""
    annotation = config_fields().get(name)
    if annotation is not None and _kind(annotation) in ("int", "float"):
        _coerce(name, value, annotation)


def strict_numbers(components: dict, error=ValueError) -> None:
    """Make each named UI component (Gradio Number / Slider) check its raw value with `check_raw` first;
    a failure raises `error(message)` (the page passes `gr.Error`, which the client sees)."""
    for name, component in components.items():
        if name not in config_fields():
            continue
        original = component.preprocess

        def preprocess(payload, name=name, original=original):
            try:
                check_raw(name, payload)
            except ValueError as e:
                raise error(str(e)) from None
            return original(payload)
        component.preprocess = preprocess


@dataclass(frozen=True)
class RunRequest:
    """One press of Run: the prompt, the model, whether to add best-of-N, and the SR-SMC settings.

    `settings` maps every run-panel `SamplerConfig` field to its coerced value (read-only).
    """

    prompt: str
    model: str
    best_of_n: bool
    settings: MappingProxyType

    @classmethod
    def from_settings(cls, settings) -> "RunRequest":
        """Check untrusted values (a dict from the UI or the API); ValueError names the first bad one.

        Missing config fields take `SamplerConfig`'s defaults; unknown names are refused.
        """
        if not isinstance(settings, dict):
            raise ValueError(f"settings must be a mapping of names to values, not {type(settings).__name__}")
        known = config_fields()  # the run panel's table (explorer.settings) names the same fields
        unknown = sorted(str(k) for k in settings if k not in known and k not in REQUEST_ONLY)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(unknown)}; known: {', '.join([*REQUEST_ONLY, *known])}")
        prompt, model = settings.get("prompt", ""), settings.get("model")
        if not isinstance(prompt, str):
            raise ValueError(f"prompt = {prompt!r}: must be a string")
        try:
            prompt.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(f"prompt: character {e.start} is not valid text (a lone surrogate)") from None
        if not isinstance(model, str) or not model:
            raise ValueError(f"model = {model!r}: must be the name of a model this app offers")
        best_of_n = _coerce("best_of_n", settings.get("best_of_n", False), bool)
        defaults = {f.name: f.default for f in fields(SamplerConfig) if f.default is not MISSING}
        values = {}
        for name, annotation in known.items():
            values[name] = _coerce(name, settings[name], annotation) if name in settings else defaults[name]
        if values["n_particles"] < 2:
            raise ValueError(f"particles N = {values['n_particles']}: use N ≥ 2 (N = 1 is the greedy run itself, "
                             "which every Run includes)")
        request = cls(prompt, model, best_of_n, MappingProxyType(values))
        request.configs("cpu")  # SamplerConfig's own range checks, named by field, before anything runs
        return request

    @property
    def n_particles(self) -> int:
        return self.settings["n_particles"]

    def configs(self, device: str) -> dict[str, SamplerConfig]:
        """One config per role — SR-SMC, greedy (N = 1), and best-of-N if asked — on one prompt and seed, in the
        order a Run decodes them: SR-SMC first, so the page streams the run it is about first."""
        cfg = SamplerConfig(prompts=(self.prompt,), device=device, **self.settings)
        out = {"sr-smc": cfg, "greedy": cfg.replace(n_particles=1)}
        if self.best_of_n:
            out["best-of-n"] = cfg.replace(method="best_of_n")
        return out
