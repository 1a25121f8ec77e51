"""The explorer in real headless Chromium: layout, a streamed run, keys/scrub/play with no server round trip,
uploads (good and corrupt), downloads, and a closed tab stopping its run.

Needs Debian's chromium at /usr/bin/chromium and the Python playwright package; the app runs on the
default model (the `app_server` fixture). Asserts behaviour — the step the player shows (`data-step` on
`#srp-player`), request counts, storage — never milliseconds; timings are benchmarks/browser.py's job.
"""
import time
from pathlib import Path

import pytest

from tests.explorer.conftest import record

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
TIMEOUT_MS = 90_000
PLAYER = "#srp-player"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, app_url):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_url)
    page.wait_for_selector(f'{PLAYER}[data-state="ready"]')  # the first example loads with the page
    yield page
    page.close()


def shown(page) -> int:
    return int(page.get_attribute(PLAYER, "data-step"))


def wait_for_step(page, t: int) -> None:
    page.wait_for_selector(f'{PLAYER}[data-step="{t}"]')


def in_view(page, selector: str) -> bool:
    """Whether some of the element is inside the viewport."""
    return page.evaluate("""(s) => { const r = document.querySelector(s).getBoundingClientRect();
        return r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth && r.height > 0; }""",
                         selector)


def press(page, selector: str) -> None:
    """A real mouse click at the element's centre, without Playwright's waits for a stable page: while a run
    streams the player redraws often, and a click that waits for two quiet frames can wait a long time."""
    b = page.locator(selector).bounding_box()
    page.mouse.click(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)


def set_number(page, selector: str, value) -> None:
    field = page.locator(selector)
    field.fill(str(value))
    field.press("Tab")


def test_wide_layout_run_button_then_transport_canvas_and_a_chart_together(page):
    page.evaluate("window.scrollTo(0, 0)")
    assert in_view(page, "#sx-run")  # Run without scrolling
    page.locator("#srp-canvas").scroll_into_view_if_needed()
    page.evaluate("document.querySelector('#srp-canvas').scrollIntoView({block: 'start'})")
    assert in_view(page, ".srp-transport") and in_view(page, "#srp-canvas") and in_view(page, "#srp-tree")


# every payload the player gets ([live, its roles]) and every state it takes (["state", s]), in order
WATCH_LOADS_JS = """() => {
  const root = document.querySelector('#srp-player'), srp = root.srp, seen = window.__loads = [];
  srp.load = function (p) { seen.push([Boolean(p && p.live), Object.keys((p && p.runs) || {})]);
    return Object.getPrototypeOf(srp).load.call(this, p); };
  window.__states = new MutationObserver(() => seen.push(['state', root.dataset.state]));
  window.__states.observe(root, {attributes: true, attributeFilter: ['data-state']});
}"""


def test_a_run_streams_into_the_player_and_fills_the_downloads(page):
    set_number(page, "#sx-n-particles input[data-testid=number-input]", 4)
    set_number(page, "#sx-gen-length input", 64)
    set_number(page, "#sx-steps input", 64)
    set_number(page, "#sx-block-length input", 32)
    page.evaluate(WATCH_LOADS_JS)
    page.click("#sx-run")
    page.wait_for_selector(f'{PLAYER}[data-state="live"]')  # steps arrive while the run samples
    page.wait_for_selector(f'{PLAYER}[data-state="ready"][data-steps="64"]')
    loads = page.evaluate("window.__states.disconnect(); delete document.querySelector('#srp-player').srp.load; "
                          "window.__loads")
    live = [roles for first, roles in loads if first is True]
    assert live and live[0] == ["sr-smc"], loads  # SR-SMC streams first, before greedy's run has started
    assert ["state", "empty"] not in loads and [False, []] not in loads, loads  # never "Nothing loaded yet"
    page.wait_for_selector('#sx-runs:has-text("64 tokens in 64 steps")')
    assert "Done" in page.inner_text("#sx-status")
    wait_for_step(page, 64)  # a finished run opens on its last step
    links = page.locator("#sx-downloads a[download]")
    assert links.count() == 2
    body = page.request.get(links.first.get_attribute("href")).text()
    assert '"schema_version"' in body


def test_stop_ends_the_run_and_puts_the_earlier_runs_back(page):
    before = page.inner_text("#sx-runs")
    set_number(page, "#sx-n-particles input[data-testid=number-input]", 16)  # long enough that Stop lands mid-run
    set_number(page, "#sx-gen-length input", 256)
    set_number(page, "#sx-steps input", 256)
    page.click("#sx-run")
    page.wait_for_selector(f'{PLAYER}[data-state="live"]')
    press(page, "#sx-stop")
    page.wait_for_selector('#sx-status:has-text("Stopped")')
    page.wait_for_selector(f'{PLAYER}[data-state="ready"][data-steps="64"]')
    page.wait_for_timeout(1000)  # nothing of the stopped run arrives later
    assert page.inner_text("#sx-runs") == before and "N = 4" in before  # still the run before, described
    assert "Stopped" in page.inner_text("#sx-status") and "Done" not in page.inner_text("#sx-status")
    assert page.get_attribute(PLAYER, "data-steps") == "64" and "stopped" in page.inner_text(".srp-banner")
    set_number(page, "#sx-n-particles input[data-testid=number-input]", 4)
    set_number(page, "#sx-gen-length input", 64)
    set_number(page, "#sx-steps input", 64)


def test_stop_on_an_idle_page_changes_nothing(page):
    page.evaluate(f"document.querySelector('{PLAYER}').srp.show(7)")
    wait_for_step(page, 7)
    status, runs = page.inner_text("#sx-status"), page.inner_text("#sx-runs")
    press(page, "#sx-stop")
    page.wait_for_timeout(1000)
    assert shown(page) == 7 and page.inner_text("#sx-status") == status and page.inner_text("#sx-runs") == runs


def test_keys_scrub_and_play_happen_in_the_browser(page):
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    storage = "() => JSON.stringify(localStorage).length"
    stored = page.evaluate(storage)
    page.evaluate(f"document.querySelector('{PLAYER}').srp.show(0)")
    wait_for_step(page, 0)
    page.click("#sx-header h1")  # focus outside any field: the player's own keys
    for _ in range(10):
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(50)
    wait_for_step(page, 10)
    page.wait_for_timeout(300)
    assert shown(page) == 10  # exactly ten, no overshoot
    slider = page.locator("#srp-slider")
    for t in range(11, 31):  # scrub 20 steps
        slider.fill(str(t))
    wait_for_step(page, 30)
    page.select_option("#srp-speed", "16")
    page.click("#srp-play")
    page.wait_for_function(f"+document.querySelector('{PLAYER}').dataset.step > 34")
    page.click("#srp-play")  # Pause
    stopped = shown(page)
    page.wait_for_timeout(400)
    assert shown(page) == stopped and int(slider.input_value()) == stopped  # stops on the step shown
    assert f"step {stopped} " in page.inner_text("#srp-step-label") + " "
    assert requests == [], f"playback reached the server: {requests[:5]}"
    assert page.evaluate(storage) == stored


def test_uploads_good_and_corrupt(page, tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"schema_version": 1, "steps": [')
    page.set_input_files("input[data-testid$=-upload-button]", str(bad))
    page.wait_for_selector('.toast-body:has-text("broken.json")')
    assert page.get_attribute(PLAYER, "data-steps") == "64"  # the loaded run stays

    trace = record(n_particles=3).save(tmp_path / "toy-smc.json")  # recorded elsewhere: BigramToy, N = 3
    page.set_input_files("input[data-testid$=-upload-button]", str(trace))
    page.wait_for_selector('#sx-runs:has-text("bigram")')
    page.wait_for_selector(f'{PLAYER}[data-state="ready"][data-steps="16"]')
    assert page.input_value("#sx-prompt textarea") == "the cat"  # the run panel now reproduces it
    assert page.input_value("#sx-n-particles input[data-testid=number-input]") == "3"

    with page.expect_download() as download:
        page.click("#sx-html-btn")
    html = Path(download.value.path()).read_text()
    assert html.startswith("<!doctype html>") and "SRPlayer" in html


def test_narrow_layout(browser, app_url):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(app_url)
        page.wait_for_selector(f'{PLAYER}[data-state="ready"]')
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the screen
        assert not page.locator(".srp-keys").is_visible()  # no keyboard on a phone
        assert page.locator("#sx-run").is_visible()
        clipped = page.evaluate("""() => [...document.querySelectorAll('h1, h2, h3, label, .srp-panel h3')]
            .filter(e => e.offsetWidth && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)""")
        assert clipped == []
        unscrollable = page.evaluate("""() => [...document.querySelectorAll('table')].filter(t => {
            let e = t.parentElement;
            while (e && !['auto', 'scroll'].includes(getComputedStyle(e).overflowX)) e = e.parentElement;
            return !e; }).length""")
        assert unscrollable == 0  # every table scrolls inside its own box
    finally:
        page.close()


def test_closing_the_tab_stops_the_decode(browser, app_url):
    log = Path(__file__).resolve().parents[1] / "test-output" / "app.log"  # the app_server fixture's log
    before = log.read_text().count("run cancelled")
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_url)
    page.wait_for_selector(f'{PLAYER}[data-state="ready"]')
    set_number(page, "#sx-n-particles input[data-testid=number-input]", 8)  # a minute or more to the end
    set_number(page, "#sx-gen-length input", 256)
    set_number(page, "#sx-steps input", 256)
    page.click("#sx-run")
    page.wait_for_selector(f'{PLAYER}[data-state="live"]')
    page.close()
    closed = time.monotonic()
    while log.read_text().count("run cancelled") == before:  # the decode thread's last words
        assert time.monotonic() - closed < 20.0, "the decode still runs 20 s after the tab closed"
        time.sleep(0.05)


def test_a_link_to_a_step_of_an_example_opens_that_view_in_a_new_context(browser, app_url):
    """Step 29 and focus 3 on a bundled example that is not the default one: the URL the page shows (what
    "copy link" copies) opens, in a fresh browser context, on that example, step and focus."""
    first = browser.new_page(viewport={"width": 1440, "height": 900})
    first.set_default_timeout(TIMEOUT_MS)
    first.goto(f"{app_url}/#ex=2-low-temperature-n4")
    first.wait_for_selector(f'{PLAYER}[data-state="ready"]')
    first.wait_for_function("() => window.location.hash.includes('ex=2-low-temperature-n4')")
    first.select_option("#srp-particle", "3")
    first.fill("#srp-slider", "29")
    first.dispatch_event("#srp-slider", "input")
    wait_for_step(first, 29)
    first.wait_for_function("() => /(^#|&)t=29(&|$)/.test(window.location.hash) && /(^#|&)f=3(&|$)/.test(window.location.hash)")
    link = first.evaluate("() => window.location.href")
    first.close()

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(link)
    wait_for_step(page, 29)
    assert page.input_value("#srp-particle") == "3"
    assert page.get_attribute(PLAYER, "data-steps") == "64"
    assert "2-low-temperature-n4" in page.evaluate("() => window.location.hash")
    context.close()
