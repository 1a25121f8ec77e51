"""Press Stop at random moments of real Runs and report, per trial, how fast the server's decode stopped.

    python -m tools.stop_trials [--browser 12] [--client 12] [--seed 0] [--n 8 --gen-length 128 --steps 64]
                                [--latest-press 4]

Starts `python app.py` (default model, one torch thread) on a free port with its log in
test-output/stop_trials-app.log, then runs trials, each pressing at a moment drawn uniformly from
0.2 s to `--latest-press` after Run (the Run must last longer: ~6 s on this box when idle):

- browser: headless Chromium (/usr/bin/chromium) on the page: Run, wait a random time, press Stop;
- client: `gradio_client` submits `/sample`, waits a random time, cancels the job.

For each trial it reads the app's own log line `run cancelled: {...}` (app.SamplingJob: when the stop
reached the server, when the decode thread ended, the end time of each of the last steps; same machine,
same clock) and prints: seconds from the press to the decode thread ending, steps decoded after the press
(steps whose end time is later than the press), the median step time of that run, and for the browser
whether the page then shows exactly what it says (status "Stopped", the earlier runs in the player and
in the description, a "stopped" banner, nothing of the new run one second later). A press that lands
after the Run finished counts as "finished first" (the page must then say "Done" and show the new run).
Numbers are wall clock on whatever machine runs it: state the load with them.
"""
import argparse
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOG = REPO / "test-output" / "stop_trials-app.log"
PLAYER = "#srp-player"
CHROMIUM = "/usr/bin/chromium"


def start_app() -> tuple[subprocess.Popen, str]:
    LOG.parent.mkdir(exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--threads", "1", "--max-cost", "2000000"],
                            cwd=REPO, env=env, stdout=LOG.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while url not in LOG.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()
            sys.exit(f"app.py did not start: see {LOG}")
        time.sleep(0.5)
    return proc, url


def cancel_lines() -> list[dict]:
    return [json.loads(m) for m in re.findall(r"^run cancelled: (\{.*\})$", LOG.read_text(), re.M)]


def wait_for_cancel_line(count_before: int, seconds: float = 30) -> dict | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        lines = cancel_lines()
        if len(lines) > count_before:
            return lines[count_before]
        time.sleep(0.02)
    return None


def measure(line: dict | None, pressed: float) -> dict:
    if line is None:
        return dict(cancelled=False, steps_after=None, idle_s=None, step_s=None)
    ends = line["step_ends"]
    step_s = statistics.median(b - a for a, b in zip(ends, ends[1:])) if len(ends) > 1 else None
    return dict(cancelled=True, steps_after=sum(t > pressed for t in ends), idle_s=line["idle"] - pressed,
                step_s=step_s)


def settings(args) -> dict:
    return dict(prompt="It is a truth universally acknowledged", model="austen-mdlm", n_particles=args.n,
                temperature=1.0, gen_length=args.gen_length, steps=args.steps, block_length=args.gen_length,
                seed=0, best_of_n=False)


def client_trials(url: str, args, rng: random.Random) -> list[dict]:
    from gradio_client import Client
    rows = []
    for i in range(args.client):
        client = Client(url, verbose=False, analytics_enabled=False)
        before = len(cancel_lines())
        job = client.submit(**settings(args), api_name="/sample")
        started = time.monotonic()
        while job.status().code.name not in ("PROCESSING", "ITERATING", "PROGRESS"):
            time.sleep(0.02)
        delay = rng.uniform(0.2, args.latest_press)
        time.sleep(max(0.0, started + delay - time.monotonic()))
        pressed = time.time()
        job.cancel()
        row = dict(via="gradio_client", trial=i + 1, press_s=delay, **measure(wait_for_cancel_line(before), pressed))
        row["finished_first"] = not row["cancelled"] and job.done() and job.status().code.name == "FINISHED"
        row["consistent"] = None
        rows.append(row)
        print(row, flush=True)
        time.sleep(0.5)
    return rows


def browser_trials(url: str, args, rng: random.Random) -> list[dict]:
    from playwright.sync_api import sync_playwright
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(120_000)
        page.goto(url)
        page.wait_for_selector(f'{PLAYER}[data-state="ready"]')
        for selector, value in (("#sx-n-particles input[data-testid=number-input]", args.n),
                                ("#sx-gen-length input", args.gen_length), ("#sx-block-length input", args.gen_length),
                                ("#sx-steps input", args.steps)):
            page.fill(selector, str(value))
            page.press(selector, "Tab")
        for i in range(args.browser):
            runs_before, steps_before = page.inner_text("#sx-runs"), page.get_attribute(PLAYER, "data-steps")
            status_before, before = page.inner_text("#sx-status"), len(cancel_lines())
            page.click("#sx-run")
            started = time.monotonic()
            delay = rng.uniform(0.2, args.latest_press)
            time.sleep(max(0.0, started + delay - time.monotonic()))
            b = page.locator("#sx-stop").bounding_box()
            pressed = time.time()
            page.mouse.click(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)  # a real click, no waits
            try:  # the outcome, once the status is no longer the last trial's
                page.wait_for_function("(before) => { const s = document.querySelector('#sx-status').innerText; "
                                       "return s !== before && /Stopped|Done|Failed/.test(s); }",
                                       arg=status_before, timeout=60_000)
            except Exception:  # the same words as the last trial's outcome: read it as it is
                pass
            page_s = time.time() - pressed
            queued = "before it started" in page.inner_text("#sx-status")  # Stop came while Run was queued
            line = None if queued else wait_for_cancel_line(before)
            row = dict(via="browser", trial=i + 1, press_s=delay, **measure(line, pressed), page_s=page_s,
                       queued=queued)
            if queued:
                row.update(cancelled=True, steps_after=0)
            time.sleep(1.0)  # anything of the stopped run that still arrived would show by now
            status, runs = page.inner_text("#sx-status"), page.inner_text("#sx-runs")
            state, steps = page.get_attribute(PLAYER, "data-state"), page.get_attribute(PLAYER, "data-steps")
            banner = page.inner_text("#srp-banner")
            row["finished_first"] = "Done" in status
            if queued:
                row["consistent"] = runs == runs_before and steps == steps_before and state == "ready"
            elif row["cancelled"]:
                row["consistent"] = ("Stopped" in status and "Done" not in status and runs == runs_before
                                     and steps == steps_before and state == "ready" and "stopped" in banner)
            else:
                row["consistent"] = "Done" in status and state == "ready" and "stopped" not in banner
            rows.append(row)
            print(row, flush=True)
        browser.close()
    return rows


def table(rows: list[dict]) -> str:
    def num(v, fmt):
        return "—" if v is None else format(v, fmt)
    out = ["| # | via | Stop pressed after Run (s) | cancelled | steps decoded after the press | decode idle after "
           "the press (s) | one step (s, median) | page shows the outcome after (s) | page consistent |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cancelled = ("yes, in the queue" if r.get("queued") else "yes" if r["cancelled"]
                     else "finished first" if r["finished_first"] else "**no**")
        consistent = {None: "—", True: "yes", False: "**no**"}[r["consistent"]]
        out.append(f"| {r['trial']} | {r['via']} | {r['press_s']:.2f} | {cancelled} | {num(r['steps_after'], 'd')} | "
                   f"{num(r['idle_s'], '.2f')} | {num(r['step_s'], '.2f')} | "
                   f"{num(None if r['finished_first'] else r.get('page_s'), '.2f')} | "
                   f"{consistent} |")
    return "\n".join(out)


def summary(rows: list[dict]) -> str:
    mid = [r for r in rows if not r["finished_first"]]
    cancelled = [r for r in mid if r["cancelled"]]
    within = [r for r in cancelled if r.get("queued") or (r["step_s"] is not None and r["idle_s"] <= r["step_s"] + 1.0)]
    inconsistent = [r for r in rows if r["consistent"] is False]
    worst = max((r["idle_s"] for r in cancelled), default=float("nan"))
    most = max((r["steps_after"] for r in cancelled), default=0)
    return (f"{len(rows)} trials, {len(rows) - len(mid)} finished before the press; of the {len(mid)} stopped "
            f"mid-run {len(cancelled)} cancelled ({100 * len(cancelled) / max(len(mid), 1):.0f} %), "
            f"{len(within)} idle within one step + 1 s; slowest {worst:.2f} s; at most {most} step(s) decoded "
            f"after the press; {len(inconsistent)} inconsistent page state(s)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--browser", type=int, default=12, help="trials through Chromium")
    ap.add_argument("--client", type=int, default=12, help="trials through gradio_client")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random press moments")
    ap.add_argument("--n", type=int, default=8, help="particles N of each Run")
    ap.add_argument("--gen-length", type=int, default=128)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--latest-press", type=float, default=4.0, help="latest press, in seconds after Run")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    proc, url = start_app()
    try:
        print(f"presses fall uniformly in [0.2, {args.latest_press:.1f}] s after Run", flush=True)
        rows = browser_trials(url, args, rng) + client_trials(url, args, rng)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} ({os.cpu_count()} CPUs)\n")
    print(table(rows))
    print("\n" + summary(rows))


if __name__ == "__main__":
    main()
