"""The run panel's settings as one table, derived from `SamplerConfig`.

`table(max_particles, max_gen_length)` gives one `Setting` per run-panel value: the three
the app adds (prompt, model, best-of-N) and every `SamplerConfig` field but the ones the app
fixes (`APP_FIXED`). A field's default, choices (a `Literal`), kind (by its annotation) and
help (its `metadata["help"]`) come from the config itself; `LOOK` only says how a few fields
are shown (label, widget, range, group). A field added to `SamplerConfig` therefore appears in
the page (in "Beyond the paper", as the widget its annotation implies), in the request type
(`explorer.request`) and in the CLI (`python -m sampler`, which reads the same fields) with no
other edit.
"""
import functools
import typing
import types
from dataclasses import MISSING, dataclass, fields

from sampler.config import SWITCH, SamplerConfig

APP_FIXED = ("prompts", "method", "device", "dtype")  # SamplerConfig fields the run panel does not set
REQUEST_ONLY = ("prompt", "model", "best_of_n")  # settings that are not SamplerConfig fields

ESSENTIALS = "essentials"  # the group shown at once, above every collapsible group
GROUPS = (ESSENTIALS, "Unmasking, seed and prompt template", "Resampling and the answer ★",
          "Beyond the paper (defaults = the paper)")
BEYOND = GROUPS[-1]  # where a field without a `LOOK` entry goes

# how the app's own settings and a few config fields are shown; anything not named here takes its
# label from the field name, its widget from the annotation and goes to BEYOND
LOOK = {  # in the order of the API's parameters (`/sample`) and, within each group, of the panel
    "prompt": dict(label="Prompt", widget="textbox", group=ESSENTIALS, default="It is a truth universally acknowledged",
                   help="The text every run continues."),
    "model": dict(label="Model", widget="dropdown", group=ESSENTIALS,
                  help="The masked diffusion language model that decodes."),
    "n_particles": dict(label="Particles N", widget="slider", group=ESSENTIALS, minimum=2, step=1,
                        help="SR-SMC's particles (best-of-N's too); greedy is N = 1."),
    "temperature": dict(label="Temperature τ", widget="slider", group=ESSENTIALS, minimum=0, maximum=2, step=0.05,
                        help="τ of the token draws; 0 = argmax (every particle alike: SMC cannot help)."),
    "gen_length": dict(label="Gen length", group=ESSENTIALS, minimum=1, help="Tokens after the prompt."),
    "steps": dict(label="Steps", group=ESSENTIALS, minimum=1, help="A multiple of the blocks."),
    "block_length": dict(label="Block length", group=ESSENTIALS, minimum=1, default=32,
                         help="A divisor of gen length."),
    "policy": dict(label="Unmasking policy", widget="radio", group=GROUPS[1]),
    "ess_threshold": dict(label="ESS threshold κ", widget="slider", group=GROUPS[2], minimum=0, maximum=1, step=0.05),
    "resampling": dict(label="Resampling scheme", widget="dropdown", group=GROUPS[2]),
    "seed": dict(label="Seed", group=GROUPS[1], minimum=0),
    "best_of_n": dict(label="Also run best-of-N", widget="checkbox", group=GROUPS[2], default=False,
                      help="Also run N independent particles that never resample, picked by the same final score."),
    "resample_when": dict(label="Check the ESS", widget="radio", group=GROUPS[2]),
    "resample_every": dict(label="k (for every_k)", group=GROUPS[2], minimum=1),
    "final_pick": dict(label="Final answer ★", widget="radio", group=GROUPS[2]),
    "confidence": dict(label="Confidence from", widget="radio", group=GROUPS[1]),
    "threshold": dict(label="Threshold ρ (threshold policy)", widget="slider", group=GROUPS[1], minimum=0.05,
                      maximum=1, step=0.05),
    "chat_template": dict(label="Chat template", group=GROUPS[1]),
}


@dataclass(frozen=True)
class Setting:
    """One run-panel value: how it is typed, shown and explained.

    `kind` is 'int', 'float', 'str', 'bool' or 'switch' (a `bool | None` shown as auto/on/off);
    `widget` one of 'textbox', 'dropdown', 'radio', 'slider', 'number', 'checkbox'.
    """

    name: str
    label: str
    kind: str
    widget: str
    default: object
    help: str
    group: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None

    @property
    def elem_id(self) -> str:
        return "sx-" + self.name.replace("_", "-")


def config_fields() -> dict[str, object]:
    """The run panel's `SamplerConfig` fields and their annotations, in declaration order."""
    return _fields_of(SamplerConfig)


@functools.cache  # read for every value of every request; keyed by the class, so a subclass gets its own
def _fields_of(config_class) -> dict[str, object]:
    hints = typing.get_type_hints(config_class)
    return {f.name: hints[f.name] for f in fields(config_class) if f.name not in APP_FIXED}


def kind_of(annotation) -> str:
    """'switch' for `bool | None`, else 'int', 'float', 'bool' or 'str' (Literal choices); Optional unwrapped."""
    args = set(typing.get_args(annotation))
    if args == {bool, type(None)}:
        return "switch"
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is typing.Literal:
        return "str"
    return {int: "int", float: "float", bool: "bool"}.get(annotation, "str")


def _choices(annotation) -> tuple:
    if kind_of(annotation) == "switch":
        return tuple(SWITCH)
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    return ()


def _widget(kind: str, choices: tuple) -> str:
    if kind == "switch" or (choices and len(choices) <= 3):
        return "radio"
    if choices:
        return "dropdown"
    return {"bool": "checkbox", "str": "textbox"}.get(kind, "number")


def table(max_particles: int = 64, max_gen_length: int = 512) -> tuple[Setting, ...]:
    """Every run-panel setting, in `LOOK`'s order, then the other config fields in declaration order.

    The ranges the app's limits set (N, gen length, steps, block length) come from the arguments.
    """
    ranges = {"n_particles": dict(maximum=max_particles), "gen_length": dict(maximum=max_gen_length),
              "steps": dict(maximum=max_gen_length), "block_length": dict(maximum=max_gen_length)}
    defaults = {f.name: f.default for f in fields(SamplerConfig) if f.default is not MISSING}
    helps = SamplerConfig.help()
    out = []
    annotations = {"prompt": str, "model": str, **config_fields(), "best_of_n": bool}
    order = [*LOOK, *annotations]  # LOOK's order, then the config's declaration order
    for name in sorted(annotations, key=order.index):
        annotation = annotations[name]
        look = {**LOOK.get(name, {}), **ranges.get(name, {})}
        kind, choices = kind_of(annotation), _choices(annotation)
        default = look.pop("default", defaults.get(name))
        if kind == "switch":
            default = {v: k for k, v in SWITCH.items()}[default]
        text = look.pop("help", None) or helps.get(name, "")
        out.append(Setting(name=name, label=look.pop("label", name.replace("_", " ").capitalize()), kind=kind,
                           widget=look.pop("widget", _widget(kind, choices)), default=default,
                           help=text, group=look.pop("group", BEYOND), choices=choices, **look))
    return tuple(out)
