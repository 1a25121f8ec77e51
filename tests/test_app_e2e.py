"""The explorer in real headless Chromium: run, move the cursor, play, upload, screenshot.

Needs Debian's chromium at /usr/bin/chromium and the Python playwright package; the app
runs on the default model (see the `app_url` fixture). Screenshots: test-output/.
"""
from pathlib import Path

import pytest

from tests.explorer.conftest import record

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
OUT = Path(__file__).resolve().parents[1] / "test-output"
TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def page(app_url):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(app_url)
        page.wait_for_selector("#sx-run")
        yield page
        browser.close()


def canvas_step(page) -> int:
    return int(page.get_attribute('#sx-main-canvas .sx-canvas', "data-step"))


def wait_for_step(page, t: int) -> None:
    page.wait_for_selector(f'#sx-main-canvas .sx-canvas[data-step="{t}"]')


def plot(page, elem_id: str) -> dict:
    """The Plotly figure the browser shows in a gr.Plot: its cursor x (or y) and title."""
    return page.evaluate(f"""() => {{
        const gd = document.querySelector('#{elem_id} .js-plotly-plot');
        if (!gd || !gd.layout) return null;
        const s = (gd.layout.shapes || []).find(s => s.name === 'cursor');
        return {{cursor: s ? (s.x0 ?? null) : null, cursor_y: s ? s.y0 : null, title: gd.layout.title.text,
                 n: gd.data.length}};
    }}""")


def wait_for_plot(page, elem_id: str, **expected) -> dict:
    page.wait_for_function(
        "([id, key, value]) => { const gd = document.querySelector('#' + id + ' .js-plotly-plot');"
        " const s = gd && gd.layout && (gd.layout.shapes || []).find(s => s.name === 'cursor');"
        " return s && s[key] === value; }", arg=[elem_id, *next(iter(expected.items()))])
    return plot(page, elem_id)


def set_number(page, selector: str, value) -> None:
    field = page.locator(selector)
    field.fill(str(value))
    field.press("Tab")


def test_run_step_play_upload(page, tmp_path):
    # a small sampling job on the default model
    set_number(page, "#sx-n input[data-testid=number-input]", 4)
    set_number(page, "#sx-gen input", 32)
    set_number(page, "#sx-steps input", 16)
    set_number(page, "#sx-block input", 16)
    page.click("#sx-run")
    page.wait_for_selector('#sx-runs:has-text("32 tokens in 16 steps")')
    wait_for_step(page, 16)
    main = page.locator("#sx-main-canvas")
    assert main.locator(".sx-particle").count() == 4
    assert main.locator(".sx-m").count() == 0  # everything committed at the last step
    assert page.locator('#sx-base-canvas .sx-canvas[data-run="greedy"]').count() == 1
    assert wait_for_plot(page, "sx-tree", x0=16)["cursor"] == 16
    assert wait_for_plot(page, "sx-ess", x0=16)["cursor"] == 16
    page.screenshot(path=str(OUT / "explorer-run-final-step.png"), full_page=True)

    # move the cursor: type a step, then keyboard on the slider and on the page
    set_number(page, "#sx-cursor input[data-testid=number-input]", 4)
    wait_for_step(page, 4)
    assert main.locator(".sx-m").count() == 4 * (32 - 8)  # 2 of 32 positions per step, top-k
    assert main.locator(".sx-now").count() == 4 * 2
    assert page.locator("#sx-base-canvas .sx-m").count() == 32 - 8
    assert wait_for_plot(page, "sx-tree", x0=4)["cursor"] == 4
    assert wait_for_plot(page, "sx-ess", x0=4)["cursor"] == 4
    assert wait_for_plot(page, "sx-heatmap", y0=4)["cursor_y"] == 4
    page.wait_for_function("() => document.querySelector('#sx-weights .js-plotly-plot')"
                           ".layout.title.text.startsWith('Step 4:')")
    page.screenshot(path=str(OUT / "explorer-step-4.png"), full_page=True)
    page.locator("#sx-cursor input[type=range]").press("ArrowLeft")
    wait_for_step(page, 3)
    page.click("h1")  # focus outside any field: the page's own keys
    page.keyboard.press("ArrowRight")
    wait_for_step(page, 4)

    # play from step 4 at 16 steps/s until the end; the button returns to Play
    page.click("#sx-play")
    page.wait_for_function("() => +document.querySelector('#sx-main-canvas .sx-canvas').dataset.step > 4")
    wait_for_step(page, 16)
    page.wait_for_selector('#sx-play:has-text("Play")')

    # a corrupt upload names the problem and keeps the loaded run
    bad = tmp_path / "broken.json"
    bad.write_text('{"schema_version": 1, "steps": [')
    page.set_input_files("input[data-testid$=-upload-button]", str(bad))
    page.wait_for_selector('.toast-body:has-text("broken.json")')
    assert main.locator(".sx-particle").count() == 4

    # upload a trace recorded elsewhere (the BigramToy, N = 3): replayed without its model
    trace = record(n_particles=3).save(tmp_path / "toy-smc.json")
    page.set_input_files("input[data-testid$=-upload-button]", str(trace))
    page.wait_for_selector("#sx-runs:has-text('bigram-toy')")
    page.wait_for_function("() => document.querySelectorAll('#sx-main-canvas .sx-particle').length === 3")
    wait_for_step(page, 16)
    assert "No baseline run loaded" in page.inner_text("#sx-base-canvas")
    page.screenshot(path=str(OUT / "explorer-uploaded-trace.png"), full_page=True)
