"""The explorer page in Debian's chromium: step-change latency, play rate, screenshots.

    OMP_NUM_THREADS=1 nice python -m benchmarks.browser      # docs/benchmarks.md, "Browser player"
    python -m benchmarks.browser --fresh                     # re-record the benchmark runs first

Serves the app in this process (default model, limits raised so the N = 16, L = 256 run loads),
records two runs with it once (cached in test-output/browser-runs/), uploads each through the page,
scrolls the canvas under the sticky transport (canvas, genealogy and ESS in view, as while stepping)
and times in the browser:

- step → : ArrowRight on the page (a keydown event), from step 0 on, one press per measurement;
- jump : the slider set to a random step (an `input` event, as a drag gives);
  each from the input event to the animation frame that painted the new step: the first
  `requestAnimationFrame` callback that sees the player's root say `data-step = t` (set once every view
  has drawn step t) precedes that frame's paint, so the time is taken in the next callback. Beside it,
  "drawn": until `data-step = t` (the draw alone; the player draws in the input's own task);
- ten → : ten ArrowRight presses 50 ms apart: steps moved, and the last press → painted;
- play : steps per second reached at the 16 steps/s setting, from step 0 to the end.

Each input waits a random fraction of a frame after an animation frame, so its phase against the display's
60 Hz frames is random. Wall clock of a shared 2-core box, so medians (and p90) over many repeats.
Screenshots of the first load, the finished N = 16 run and the ★ explanation at 1440×900 and 390×844 go
to test-output/.
"""
import argparse
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "test-output"
RUNS = OUT / "browser-runs"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
PLAYER = "#srp-player"
BASE = dict(prompt="It is a truth universally acknowledged", model="austen-mdlm", temperature=1.0, policy="topk",
            ess_threshold=0.5, resampling="systematic", seed=0, best_of_n=False)
CASES = {  # name: run-panel settings
    "N8-L64-T64": dict(n_particles=8, gen_length=64, steps=64, block_length=32),
    "N16-L256-T128": dict(n_particles=16, gen_length=256, steps=128, block_length=32),
    # about the largest upload the default limits accept: 65 rows (SR-SMC's 64 + greedy's 1) × 64 steps × 118
    # positions (6 prompt + 112 generated) = 490,880 cell-steps of max_trace_cost = 500,000
    "N64-L112-T64": dict(n_particles=64, gen_length=112, steps=64, block_length=56),
}
SIZES = {"1440x900": (1440, 900), "390x844": (390, 844)}

# time one input: `act` (a JS statement) → the frame that painted step `t` (and → `data-step = t`)
WAIT_PAINTED_JS = """const raf = () => new Promise((r) => requestAnimationFrame(r));
  const root = document.querySelector('#srp-player');
  // the first animation frame whose callback sees step t paints it; the next frame's callback follows that
  // paint. Resolves then, with the time the first one saw step t.
  const painted = async (t) => {
    do await raf(); while (+root.dataset.step !== t);
    const seen = performance.now();
    await raf();
    return seen;
  };"""
TIME_STEP_JS = """async ([act, t]) => {
  """ + WAIT_PAINTED_JS + """
  await raf(); await new Promise((r) => setTimeout(r, 16 * Math.random()));
  const t0 = performance.now();
  (new Function(act))();
  const sync = +root.dataset.step === t ? performance.now() : null;
  const seen = await painted(t);
  return [performance.now() - t0, (sync ?? seen) - t0];
}"""
KEY_RIGHT = "document.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight', bubbles: true}))"
# ten ArrowRight presses 50 ms apart from the step shown: [steps moved, last press → painted ms]
TEN_PRESSES_JS = """async () => {
  """ + WAIT_PAINTED_JS + """
  const start = +root.dataset.step;
  let last = 0;
  for (let i = 0; i < 10; i++) {
    if (i) await new Promise((r) => setTimeout(r, 50));
    last = performance.now();
    """ + KEY_RIGHT + """;
  }
  await painted(start + 10);
  const ms = performance.now() - last;
  await new Promise((r) => setTimeout(r, 300));
  return [+root.dataset.step - start, ms];
}"""
SLIDER_TO = ("const s = document.querySelector('#srp-slider'); s.value = {t}; "
             "s.dispatchEvent(new Event('input', {{bubbles: true}}))")
# play at 16 steps/s from step 0: (ms, step) at every frame until the last step, and every step drawn (each
# value `data-step` took, seen by a MutationObserver)
PLAY_JS = """async () => {
  const root = document.querySelector('#srp-player'), T = +root.dataset.steps, srp = root.srp;
  srp.show(0);
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const speed = document.querySelector('#srp-speed');
  speed.value = '16'; speed.dispatchEvent(new Event('change', {bubbles: true}));
  const seen = [], drawn = new Set();
  const mo = new MutationObserver(() => drawn.add(+root.dataset.step));
  mo.observe(root, {attributes: true, attributeFilter: ['data-step']});
  const t0 = performance.now();
  document.querySelector('#srp-play').click();
  return await new Promise((done) => {
    const poll = () => {
      const step = +root.dataset.step, now = performance.now() - t0;
      if (!seen.length || seen[seen.length - 1][1] !== step) seen.push([now, step]);
      if (step >= T || now > 4 * 1000 * T / 16) { mo.disconnect(); done([seen, drawn.size]); } else requestAnimationFrame(poll);
    };
    poll();
  });
}"""
# change the focus particle (the select's change event) → the frame after the one that painted it
FOCUS_JS = """async (k) => {
  const raf = () => new Promise((r) => requestAnimationFrame(r));
  await raf(); await new Promise((r) => setTimeout(r, 16 * Math.random()));
  const sel = document.querySelector('#srp-particle'), t0 = performance.now();
  sel.value = String(k); sel.dispatchEvent(new Event('change', {bubbles: true}));
  const drawn = performance.now();
  await raf(); await raf();
  return [performance.now() - t0, drawn - t0];
}"""


def record_runs(fresh: bool) -> dict[str, list[Path]]:
    """The benchmark runs' trace files by case, recorded with the app's own sampler (cached)."""
    from app import Sampler, load_models
    from explorer.limits import Limits

    files, sampler = {}, None
    for name, settings in CASES.items():
        folder = RUNS / name
        if fresh or not (folder / "sr-smc.json").exists():
            if sampler is None:
                sampler = Sampler(load_models([BASE["model"]]), Limits(max_cost=10**9, max_trace_cost=10**9))
            folder.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            for role, trace in sampler({**BASE, **settings}).items():
                trace.save(folder / f"{role}.json")
            print(f"recorded {name} in {time.perf_counter() - start:.0f} s", flush=True)
        files[name] = sorted(folder.glob("*.json"))
    return files


def serve() -> str:
    """The app in this process with the limits raised for the benchmark runs; its URL."""
    from app import Sampler, load_models
    from explorer.limits import Limits
    from explorer.ui import build_ui, launch_kwargs

    limits = Limits(max_cost=10**9, max_trace_cost=10**9)
    models = load_models([BASE["model"]])
    demo = build_ui(Sampler(models, limits), list(models), limits)
    demo.queue().launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True,
                        **launch_kwargs())
    return demo.local_url


# before an upload: note when the payload reaches the player, when it is ready and the frame after it painted,
# and the longest task (PerformanceObserver "longtask") from the payload's arrival to that paint
WATCH_UPLOAD_JS = """() => {
  const root = document.querySelector('#srp-player'), srp = root.srp, w = window.__upload = {tasks: []};
  w.before = srp.main; w.t0 = performance.now();
  const load = srp.load;
  srp.load = function (p) { if (w.arrived === undefined) w.arrived = performance.now(); return load.call(this, p); };
  w.obs = new PerformanceObserver((list) => { for (const e of list.getEntries()) w.tasks.push([e.startTime, e.duration]); });
  w.obs.observe({type: 'longtask', buffered: false});
  const mo = new MutationObserver(() => {
    if (root.dataset.state !== 'ready' || srp.main === w.before || w.ready !== undefined) return;
    w.ready = performance.now();
    requestAnimationFrame(() => requestAnimationFrame(() => { w.painted = performance.now(); mo.disconnect(); }));
  });
  mo.observe(root, {attributes: true, attributeFilter: ['data-state', 'data-step']});
}"""
UPLOAD_RESULT_JS = """() => {
  const w = window.__upload; w.obs.disconnect(); delete document.querySelector('#srp-player').srp.load;
  const tasks = w.tasks.filter(([s, d]) => s + d >= w.arrived && s <= w.painted).map(([, d]) => d);
  return {click_to_painted_ms: w.painted - w.t0, arrived_to_painted_ms: w.painted - w.arrived,
          longest_task_ms: tasks.length ? Math.max(...tasks) : 0, long_tasks: tasks.length};
}"""


def upload(page, files: list[Path], steps: int) -> dict:
    """Upload trace files through the page, wait until the player has replaced its runs with them and painted;
    returns the times: file chosen → painted (server and transfer included), payload arrived → painted, and the
    longest task in between."""
    page.evaluate(WATCH_UPLOAD_JS)
    page.set_input_files("input[data-testid$=-upload-button]", [str(f) for f in files])
    try:
        page.wait_for_function(f"""() => {{ const r = document.querySelector('{PLAYER}');
            return r.srp.main !== window.__upload.before && r.dataset.state === 'ready' && +r.dataset.steps === {steps}
              && window.__upload.painted !== undefined; }}""")
    except Exception:
        print("upload did not finish:", page.evaluate(f"""() => {{ const r = document.querySelector('{PLAYER}'), w = window.__upload;
            return [r.dataset.state, r.dataset.steps, r.srp.main === w.before, w.arrived, w.ready, w.painted,
                    document.querySelector('#srp-banner').innerText, r.srp.error && r.srp.error.stack]; }}"""))
        raise
    return {k: round(v, 1) for k, v in page.evaluate(UPLOAD_RESULT_JS).items()}


def summary(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {"median_ms": round(statistics.median(ms), 1), "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 1),
            "n": len(ms)}


def latencies(pairs: list[list[float]]) -> dict:
    """[painted ms, drawn ms] per input → a summary of each."""
    return {"painted": summary([p for p, _ in pairs]), "drawn": summary([d for _, d in pairs])}


# which of the views a user watches while stepping are (at least partly) in the viewport
IN_VIEW_JS = """() => ['canvas', 'tree', 'ess'].filter((id) => {
  const r = document.querySelector('#srp-' + id).getBoundingClientRect();
  return r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth;
})"""


def time_case(page, files: list[Path], steps: int, repeats: int) -> dict:
    """Step → and slider-jump latencies, ten presses, and the play rate at 16 steps/s, of one uploaded run."""
    import random

    loaded = upload(page, files, steps)
    page.evaluate(f"document.querySelector('{PLAYER}').srp.show(0)")
    page.wait_for_selector(f'{PLAYER}[data-step="0"]')
    page.click("#sx-header h1")  # focus outside any field
    # the views a user watches while stepping: sticky transport, canvas, genealogy and ESS in the viewport
    page.evaluate("document.querySelector('#srp-canvas').scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)
    in_view = page.evaluate(IN_VIEW_JS)
    forward = [page.evaluate(TIME_STEP_JS, [KEY_RIGHT, t]) for t in range(1, min(repeats, steps) + 1)]
    rng = random.Random(0)
    jumps, t = [], 0
    for _ in range(repeats):
        t = (t + rng.randint(1, steps - 1)) % (steps + 1)
        jumps.append(page.evaluate(TIME_STEP_JS, [SLIDER_TO.format(t=t), t]))
    page.evaluate(f"document.querySelector('{PLAYER}').srp.show(0)")
    page.wait_for_selector(f'{PLAYER}[data-step="0"]')
    moved, ten_ms = page.evaluate(TEN_PRESSES_JS)
    page.evaluate(f"document.querySelector('{PLAYER}').srp.show({steps // 2})")
    n = page.evaluate(f"document.querySelector('{PLAYER}').srp.main.N")
    focus = [page.evaluate(FOCUS_JS, (i * 7 + 1) % n) for i in range(min(repeats, 20))]
    seen, drawn = page.evaluate(PLAY_JS)
    (first_ms, first), (last_ms, last) = seen[1] if len(seen) > 1 else seen[0], seen[-1]
    rate = (last - first) / ((last_ms - first_ms) / 1000) if last_ms > first_ms else float("nan")
    return {"upload": loaded, "in_view": in_view, "step_forward": latencies(forward), "slider_jump": latencies(jumps),
            "focus_change": latencies(focus),
            "ten_presses": {"moved": moved, "last_press_to_painted_ms": round(ten_ms, 1)},
            "play_16": {"steps_per_s": round(rate, 1), "reached": last, "of": steps, "drawn": drawn,
                        "seconds": round(last_ms / 1000, 2)}}


VIEWS = {"n16-run": "#srp-canvas", "n16-answer": "#srp-answer", "why-star": "#srp-why"}  # shot name: scrolled to


def screenshots(browser, url: str, big: list[Path], n64: list[Path] | None = None) -> list[Path]:
    """First load, then the finished N = 16 run scrolled to each of VIEWS, then the N = 64 run's genealogy at the
    middle step, at each size."""
    shots = []
    for size, (w, h) in SIZES.items():
        page = browser.new_page(viewport={"width": w, "height": h})
        page.set_default_timeout(180_000)
        page.goto(url)
        page.wait_for_selector(f'{PLAYER}[data-state="ready"]')
        shots.append(OUT / f"browser-{size}-first-load.png")
        page.screenshot(path=str(shots[-1]))
        upload(page, big, 128)
        for name, anchor in VIEWS.items():
            page.evaluate(f"document.querySelector('{anchor}').scrollIntoView({{block: 'start'}})")
            page.wait_for_timeout(300)
            shots.append(OUT / f"browser-{size}-{name}.png")
            page.screenshot(path=str(shots[-1]))
        if n64:
            upload(page, n64, 64)
            page.evaluate(f"document.querySelector('{PLAYER}').srp.show(32)")
            page.evaluate("document.querySelector('#srp-tree').scrollIntoView({block: 'center'})")
            page.wait_for_timeout(300)
            shots.append(OUT / f"browser-{size}-n64-genealogy.png")
            page.screenshot(path=str(shots[-1]))
        page.close()
    return shots


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    version = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
    import os
    return f"{cpu}, {os.cpu_count()} cores, {version}, headless, software rendering (--disable-gpu)"


def main(argv: list[str] | None = None) -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fresh", action="store_true", help="re-record the benchmark runs")
    ap.add_argument("--repeats", type=int, default=40, help="measurements per latency")
    ap.add_argument("--no-screenshots", action="store_true")
    ap.add_argument("--timeout-s", type=int, default=180, help="longest wait for one page action")
    ap.add_argument("--cases", nargs="*", default=list(CASES), help=f"cases to time (of {', '.join(CASES)})")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    OUT.mkdir(exist_ok=True)
    files = record_runs(args.fresh)
    load_before = load_average()
    print(f"load average: {load_before}", flush=True)
    url = serve()
    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(args.timeout_s * 1000)
        page.goto(url)
        page.wait_for_selector(f'{PLAYER}[data-state="ready"]')
        for name in args.cases:
            settings = CASES[name]
            results[name] = time_case(page, files[name], settings["steps"], args.repeats)
            print(name, json.dumps(results[name]), flush=True)
        page.close()
        shots = [] if args.no_screenshots else screenshots(browser, url, files["N16-L256-T128"], files["N64-L112-T64"])
        browser.close()
    print(f"\nmachine: {machine()}; load average before {load_before}, after {load_average()}\n")
    print("| run | in view | step → painted (drawn) median / p90 ms | slider jump painted (drawn) median / p90 ms "
          "| focus change painted (drawn) median / p90 ms | upload: file → painted, payload → painted, longest task "
          "| ten → 50 ms apart | play at 16 steps/s |")
    print("|---|---|---|---|---|---|---|---|")
    cell = lambda r: (f"{r['painted']['median_ms']} ({r['drawn']['median_ms']}) / {r['painted']['p90_ms']} "
                      f"({r['drawn']['p90_ms']}), n = {r['painted']['n']}")
    for name, r in results.items():
        ten, pl, up = r["ten_presses"], r["play_16"], r["upload"]
        print(f"| {name} | {', '.join(r['in_view'])} | {cell(r['step_forward'])} | {cell(r['slider_jump'])} "
              f"| {cell(r['focus_change'])} | {up['click_to_painted_ms']} ms, {up['arrived_to_painted_ms']} ms, "
              f"{up['longest_task_ms']} ms | moved {ten['moved']}, last press → painted {ten['last_press_to_painted_ms']} ms "
              f"| {pl['steps_per_s']} steps/s (step {pl['reached']} of {pl['of']} after {pl['seconds']} s; "
              f"{pl['drawn']} steps drawn) |")
    for shot in shots:
        print(f"screenshot: {shot.relative_to(REPO)}")


if __name__ == "__main__":
    main()
