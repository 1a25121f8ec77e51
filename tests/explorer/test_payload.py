"""explorer/payload.py's packed steps: lossless in Python, and unpacked by the player (data.js) in a real chromium
to the very steps the trace holds."""
import json
from pathlib import Path

import pytest

from explorer.payload import pack_steps, payload, unpack_steps
from tests.explorer.conftest import record

DATA_JS = Path(__file__).resolve().parents[2] / "explorer" / "player" / "data.js"

# data.js as a module (it imports nothing), its packed steps unpacked, then written back as plain JSON-able lists
UNPACK_JS = """async ([src, packed, native]) => {
  const url = URL.createObjectURL(new Blob([src], {type: 'text/javascript'}));
  const { unpackSteps } = await import(url);
  const fromBase64 = Uint8Array.fromBase64;
  if (!native) delete Uint8Array.fromBase64;  // as in a browser without it: data.js decodes with atob
  let steps;
  try { steps = unpackSteps(packed); } finally { if (fromBase64) Uint8Array.fromBase64 = fromBase64; }
  const kinds = [...new Set(steps.flatMap((s) => Object.values(s).filter((v) => v !== null && typeof v === 'object')
    .map((v) => (Array.isArray(v) ? 'array of ' + v[0].constructor.name : v.constructor.name))))].sort();
  const plain = (v) => (v === null || typeof v !== 'object' ? v : Array.isArray(v) ? v.map(plain) : Array.from(v));
  return [steps.map((s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, plain(v)]))), kinds];
}"""


def traces():
    """A run that resampled (ancestors on some steps, None on others), a greedy run, and one without alternatives."""
    return {"sr-smc": record(), "greedy": record(n_particles=1), "no alternatives": record(top_k_alternatives=0)}


@pytest.mark.parametrize("name", ["sr-smc", "greedy", "no alternatives"])
def test_packing_loses_nothing(name):
    steps = traces()[name].to_dict()["steps"]
    packed = pack_steps(steps)
    assert unpack_steps(packed) == steps
    back = unpack_steps(json.loads(json.dumps(packed)))  # as it travels
    assert [type(v) for v in back[0].values()] == [type(v) for v in steps[0].values()]  # bools stay bools


def test_packed_columns_are_few_and_narrow():
    steps = record().to_dict()["steps"]
    packed = pack_steps(steps)
    assert packed["n"] == len(steps) and set(packed["scalars"]) == {"step", "block"}
    dtypes = {name: c["dtype"] for name, c in packed["columns"].items()}
    assert dtypes["tokens"] == dtypes["rows"] == dtypes["ancestors"] == "<i4" and dtypes["resampled"] == "|b1"
    assert dtypes["log_weight"] == "<f4"  # the sampler's float32 values fit exactly
    assert dtypes["alt_probs"] == "<f8"  # rounded to 4 digits: not float32 values, so sent whole
    assert "none" in packed["columns"]["ancestors"] and "none" not in packed["columns"]["tokens"]
    assert pack_steps([]) == {"n": 0, "scalars": {}, "columns": {}}


@pytest.mark.parametrize("native", [True, False], ids=["Uint8Array.fromBase64", "atob"])
def test_the_player_unpacks_the_steps_the_trace_holds(browser, native):
    page = browser.new_page()
    src = DATA_JS.read_text()
    for name, trace in traces().items():
        steps = trace.to_dict()["steps"]
        run = payload({"greedy" if name == "greedy" else "sr-smc": trace})["runs"]
        unpacked, kinds = page.evaluate(UNPACK_JS, [src, next(iter(run.values()))["steps"], native])
        assert len(unpacked) == len(steps)
        for mine, theirs in zip(unpacked, steps, strict=True):
            assert mine.keys() == theirs.keys(), name
            for key, value in theirs.items():
                # every value exact (floats too), booleans as 0/1
                assert mine[key] == ([int(v) for v in value] if key == "resampled" else value), (name, key)
        assert {"Int32Array", "Float32Array", "Uint8Array"} <= set(kinds), kinds  # views, not copies
    page.close()
