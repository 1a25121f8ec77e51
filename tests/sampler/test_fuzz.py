"""Fuzzing the trace loader: valid, or a named error, never another exception.

Random bytes, random JSON and mutated real traces (one field replaced by a hostile value,
deleted, or a list cut short) go through `Trace.load` and then through the explorer's
`load_traces` and into the player's payload, and replay. Every example either loads and replays, or raises
`TraceFormatError` (or, over the app's replay limit, the limit's ValueError). Example counts
are fixed so the file runs in well under 30 s.
"""
import json
import math

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from explorer import io
from explorer.payload import payload
from sampler.branch import BranchStart, branch_config
from sampler.config import SamplerConfig
from sampler.models.toy import BigramToy
from sampler.smc import decode
from sampler.trace import Trace, TraceFormatError



def fuzz(n: int):
    """Fixed, reproducible example counts (derandomized: the same examples on every run)."""
    return settings(max_examples=n, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck),
                    database=None)

HOSTILE_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.sampled_from([10**30, -1, 0, 1, 2**31, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([math.nan, math.inf, -math.inf, 1.5, -0.0]),
    st.text(max_size=8), st.sampled_from(["\ud800", "x\udfff", "yes", "", "1"]))
JSON = st.recursive(HOSTILE_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)), max_leaves=12)


def _small_trace(**changes) -> dict:
    torch.set_num_threads(1)
    cfg = SamplerConfig(**{**dict(prompts=("the cat",), gen_length=8, steps=4, block_length=4, n_particles=3,
                                  temperature=1.0, ess_threshold=0.9, seed=2), **changes})
    return decode(BigramToy(scale=3.0), cfg).trace.to_dict()


def _grown_branch() -> dict:
    """A branch of a two-prompt run grown from N = 2 to 3 particles after step 2 (its prefix lifted to 3 rows)."""
    parent = Trace.from_dict(_small_trace(prompts=("the", "a dog"), n_particles=2))
    return decode(BigramToy(scale=3.0), branch_config(parent, n_particles=3, seed=5),
                  start=BranchStart.at(parent, 2)).trace.to_dict()


BASES = [_small_trace(), _small_trace(n_particles=1), _small_trace(policy="threshold", threshold=0.1, seed=0),
         _small_trace(prompts=("the", "a dog"), n_particles=2), _grown_branch()]


def paths(value, prefix=()):
    """Every path (tuple of keys/indices) into a JSON value, containers included."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, (*prefix, i))


def check(path) -> str:
    """Load `path` as the CLI (`Trace.load`) and the app (`io.load_traces`) do: 'loaded' or 'rejected'.

    A trace that loads must also go out to the browser (the player's payload as strict JSON, no
    NaN/Infinity, encoded as UTF-8) and replay.
    """
    try:
        Trace.load(path)
    except TraceFormatError as e:
        assert str(e).startswith(path.name), e
    try:
        traces, _ = io.load_traces([path])
    except TraceFormatError as e:
        assert str(e).startswith(path.name), e
        return "rejected"
    except ValueError as e:
        assert "cell-steps" in str(e), e  # the replay limit
        return "rejected"
    json.dumps(payload(traces), allow_nan=False).encode("utf-8")  # what the browser player gets
    for trace in traces.values():
        trace.state_at(trace.n_steps)
        trace.state_at(trace.n_steps // 2, before_resample=True)
        trace.lineage(0)
        trace.common_ancestor_step()
    return "loaded"


@pytest.fixture
def upload(tmp_path_factory):
    """Writes a text (lone surrogates kept, as a hostile client would send them) and returns its path."""
    path = tmp_path_factory.mktemp("fuzz") / "upload.json"

    def write(text: str):
        path.write_text(text, errors="surrogatepass")
        return path
    return write


@fuzz(300)
@given(data=st.data())
def test_mutated_traces_load_or_are_refused_by_name(upload, data):
    d = json.loads(json.dumps(data.draw(st.sampled_from(BASES))))
    path = data.draw(st.sampled_from(list(paths(d))[1:]))
    parent = d
    for key in path[:-1]:
        parent = parent[key]
    action = data.draw(st.sampled_from(["replace", "delete", "truncate", "duplicate"]))
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "truncate" and isinstance(parent[last], list):
        parent[last] = parent[last][:data.draw(st.integers(0, max(len(parent[last]) - 1, 0)))]
    elif action == "duplicate" and isinstance(parent, list):
        parent.append(parent[last])
    else:
        parent[last] = data.draw(JSON)
    event(f"{action}: {check(upload(json.dumps(d)))}")


@fuzz(150)
@given(value=JSON)
def test_random_json_is_refused_by_name(upload, value):
    assert check(upload(json.dumps(value))) == "rejected"


@fuzz(100)
@given(value=st.fixed_dictionaries({"schema_version": st.just(1)}, optional={
    k: JSON for k in ("model", "config", "prompts", "prompt_ids", "initial", "prompt_width", "mask_id", "vocab",
                      "steps", "final", "stats")}))
def test_random_trace_shaped_objects_are_refused_by_name(upload, value):
    assert check(upload(json.dumps(value))) == "rejected"


@fuzz(100)
@given(blob=st.binary(max_size=200))
def test_random_bytes_are_refused_by_name(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("bytes") / "upload.json"
    path.write_bytes(blob)
    assert check(path) == "rejected"
