"""The hostile corpus of issue 18, built by code: trace files, special files and command lines, each with the
error it must end in (a regular expression) or None where it must load or run cleanly.

    python -m tools.hostile_corpus OUT_FOLDER      # writes the files, prints one line per case

`tests/test_hostile.py` loads every trace case in one subprocess under a memory ceiling (so nothing proportional
to a declared size can run) and every command line in another.
"""
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.measure_limits import synthetic_trace


@dataclass
class Case:
    name: str
    target: str  # a path (trace cases) or the arguments joined by NUL (command-line cases)
    expect: str | None  # regex of the error; None: loads / runs cleanly


def _small() -> dict:
    """A valid trace dict to break: N = 2, 4 positions, 2 steps."""
    return synthetic_trace(2, 4, 2).to_dict()


def _write(folder: Path, name: str, d) -> str:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(d) if not isinstance(d, str) else d)
    return str(path)


def _with(changes):
    """A small valid trace dict with `changes(d)` applied."""
    d = json.loads(json.dumps(_small()))
    changes(d)
    return d


def trace_cases(folder: Path) -> list[Case]:
    """Trace files (and paths that are not files) for `explorer.io.load_traces` with the app's default limits."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = []

    def add(name, d, expect):
        cases.append(Case(name, _write(folder, name, d), expect))

    # a few hundred bytes declaring a huge run (was 5.3 s and 2.3 GB before its error; 1e9: MemoryError)
    for n in (300_000_000, 10**9, 2**31 - 2):
        add(f"declared-n-{n}", _with(lambda d, n=n: d["config"].update(n_particles=n)),
            r"final.texts\[0\] must have \d+ entries")
    add("declared-n-float", _with(lambda d: d["config"].update(n_particles=1e9)), r"config.n_particles")
    # config fields of the wrong type, size or choice (filled the run panel, or KeyError / HTTP 500 later)
    for key, value, field in (("policy", "x", "policy"), ("policy", "<img src=x onerror=alert(1)>", "policy"),
                              ("temperature", "hot", "temperature"), ("temperature", 1e308, None),
                              ("chat_template", "maybe", "chat_template"), ("seed", 10**30, "seed"),
                              ("seed", 2**63, "seed"), ("gen_length", True, "gen_length"),
                              ("resampling", ["a"], "resampling"), ("dtype", "int8", "dtype"),
                              ("device", "meta", "device"), ("colour", "red", "unknown config fields")):
        expect = rf"config: {field}" if field and field != "unknown config fields" else field
        if key == "temperature" and value == 1e308:
            expect = None  # a finite number ≥ 0 is a valid temperature
        add(f"config-{key}-{str(value)[:12]}", _with(lambda d, k=key, v=value: d["config"].update({k: v})), expect)
    # whole numbers of more than 64 bits anywhere
    add("stats-int-2^64", _with(lambda d: d["stats"].update(forwards=2**64)), r"stats.forwards")
    add("log-conf-int-2^70", _with(lambda d: d["steps"][0]["log_conf"].__setitem__(0, -2**70)),
        r"steps\[0\].log_conf")
    add("nested-deep", "[" * 2_000_000 + "]" * 2_000_000, r"nested too deeply")
    add("token-2^63", _with(lambda d: d["steps"][0]["tokens"].__setitem__(0, 2**63)), r"steps\[0\].tokens")
    # a declared step count, positions or steps the file does not hold
    add("stats-n-steps", _with(lambda d: d["stats"].update(n_steps=10**12)), r"stats.n_steps")
    add("ancestors-short", _with(lambda d: d["steps"][0].update(ancestors=[[0]], resampled=[True])),
        r"steps\[0\].ancestors\[0\] must have 2 entries")
    add("nested", "[" * 200_000 + "]" * 200_000, r"nested too deeply|no schema_version")
    add("not-json", "\x00\xff{", r"not a JSON trace")
    # over the limits: text the server would score, particles the browser would draw
    wide_text = synthetic_trace(64, 8, 8)
    wide_text.final["texts"] = [["word " * 60_000] * 64]
    add("texts-64x300KB", wide_text.to_dict(), r"characters of text")
    add("draw-N20000xL2", synthetic_trace(20_000, 2, 1).to_dict(), r"the player draws at most 256")
    add("replay-over", synthetic_trace(8, 10_000, 8).to_dict(), r"cell-steps to replay")
    # valid extremes: they load
    add("extreme-40000-steps", synthetic_trace(2, 6, 40_000).to_dict(), r"80,002 genealogy nodes")  # over the draw budget
    add("extreme-7800-positions", synthetic_trace(64, 7_800, 1).to_dict(), None)
    add("extreme-cli-256x513x1", synthetic_trace(256, 513, 1).to_dict(), None)
    add("prompt-html-comment", _with(lambda d: (d.update(prompts=["a <!-- b"]), d["config"].update(
        prompts=["a <!-- b"]))), None)
    add("markdown-model", _with(lambda d: d.update(model="# h\n---\n- x <https://a.b> $$x$$")), None)
    # paths that are not regular files, and a file over the upload size (sparse: no disk used)
    big = folder / "huge.json"
    with big.open("wb") as f:
        f.truncate(300 * 2**20)
    cases.append(Case("file-300MB", str(big), r"over the 20,971,520"))
    cases.append(Case("dev-zero", "/dev/zero", r"not a regular file"))
    cases.append(Case("folder", str(folder), r"a folder"))
    fifo = folder / "fifo.json"
    if hasattr(os, "mkfifo") and not fifo.exists():
        os.mkfifo(fifo)
    cases.append(Case("fifo", str(fifo), r"not a regular file"))
    return cases


def cli_cases(folder: Path, tiny_mdlm: Path | None = None) -> list[Case]:
    """Command lines of `python -m sampler` that must end in one line and exit code 2."""
    folder.mkdir(parents=True, exist_ok=True)
    surrogate = folder / "surrogate.jsonl"
    surrogate.write_text('{"prompt": "a \\udcff b"}\n')
    fifo = folder / "prompts.fifo"
    if hasattr(os, "mkfifo") and not fifo.exists():
        os.mkfifo(fifo)
    out = ["--out", str(folder / "runs"), "--gen-length", "4", "--steps", "4"]
    cases = [
        ("n-particles-1e6", ["--n-particles", "1000000"], r"needs about .* GiB|out of memory"),
        ("temperature-inf", ["--temperature", "inf"], r"temperature = inf: must be a finite number"),
        ("seed-1e30", ["--seed", str(10**30)], r"seed = .*2\^63"),
        ("prompt-invalid-utf8", ["--prompt", b"a \xff\xfe b".decode("utf-8", "surrogateescape")],
         r"prompts\[0\]: holds a character that is not valid text"),
        ("jsonl-surrogate", ["--prompts-file", str(surrogate)], r"prompts\[0\]: holds a character"),
        ("jsonl-dev-full", ["--jsonl", "/dev/full"], r"--jsonl /dev/full: cannot write it"),
        ("device-cuda", ["--device", "cuda:7"], r"device = 'cuda:7': this machine has no such CUDA device"),
        ("device-meta", ["--device", "meta"], r"device = 'meta': must be a torch device"),
        ("prompts-dev-zero", ["--prompts-file", "/dev/zero"], r"not a regular file"),
        ("prompts-fifo", ["--prompts-file", str(fifo)], r"not a regular file"),
        ("prompts-folder", ["--prompts-file", str(folder)], r"a folder"),
    ]
    if tiny_mdlm is not None:
        cases.append(("mdlm-unequal-prompts", ["--model", str(tiny_mdlm), "--prompt", "the cat sat on", "--prompt",
                                               "a"], r"equal length.*--prompt-batch 1"))
    return [Case(name, "\0".join([*argv, *out]), expect) for name, argv, expect in cases]


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
    for case in trace_cases(folder / "traces") + cli_cases(folder / "cli"):
        print(f"{case.name:<32} {case.target.replace(chr(0), ' ')[:60]:<60} -> {case.expect or 'clean'}")


if __name__ == "__main__":
    main()
