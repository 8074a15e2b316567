"""Every notebook in JupyterLab, in a real (headless) chromium driven by Playwright.

For each notebook: open it, clear its outputs, Run > Run All Cells, wait until the kernel is
idle and every code cell has a fresh execution count, assert no traceback or error output,
then check that every ipywidgets control renders as a widget (not its text fallback) and
that moving it (arrow key on a slider, another option in a dropdown) redraws the figure
shown right after it. A full-page screenshot per notebook goes to tests/e2e/output/screens
(copied to /tmp/e2e_screens).
"""

import re
import shutil
import time

import pytest

from e2e_support import (CHROMIUM, CHROMIUM_ARGS, ROOT, LabServer, copy_to_tmp_screens, env_seconds, notebooks,
                      require)

pytestmark = pytest.mark.e2e

NOTEBOOKS = notebooks()
RUN_TIMEOUT = env_seconds("E2E_NOTEBOOK_TIMEOUT", 600)     # Run All of one smoke-mode notebook
REDRAW_TIMEOUT = env_seconds("E2E_REDRAW_TIMEOUT", 120)    # one slider move -> new figure
STALL_SECONDS = 30          # kernel idle, nothing queued, cells still unrun: execution stopped
FALLBACKS = ("HBox(children=", "VBox(children=", "Error displaying widget", "Loading widget...",
             "Failed to load model class", "Could not create a view", "Widget Javascript not detected")

# JavaScript run in the page -------------------------------------------------------------------

JS_STATE = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const cells = [...panel.querySelectorAll('.jp-Notebook .jp-CodeCell')].map(cell => ({
    prompt: (cell.querySelector('.jp-InputArea-prompt') || {}).textContent || '',
    empty: ((cell.querySelector('.cm-content') || {}).textContent || '').trim() === '',
  }));
  return {status: indicator ? indicator.getAttribute('data-status') : null, cells};
}"""

JS_OUTPUT_TEXTS = """(selector) => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook ' + selector)].map(e => e.innerText)"""

# Tag every control with data-e2e-control=i and say what it is; the image it drives is the
# first <img> in the outputs that follow the output holding the widget box.
JS_TAG_CONTROLS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const found = [...panel.querySelectorAll('.widget-slider, .widget-dropdown')]
    .filter(e => !e.closest('.widget-readout') && !e.querySelector('.widget-slider, .widget-dropdown'));
  return found.map((element, index) => {
    element.setAttribute('data-e2e-control', String(index));
    const kind = element.classList.contains('widget-dropdown') ? 'dropdown' : 'slider';
    const label = (element.querySelector('.widget-label') || {}).innerText || '';
    const readout = element.querySelector('.widget-readout');
    const select = element.querySelector('select');
    const disabled = !!(element.querySelector('[disabled]') || element.classList.contains('mod-disabled'));
    return {index, kind, label, disabled,
            value: kind === 'dropdown' ? (select ? select.value : null) : (readout ? readout.innerText : null),
            options: select ? [...select.options].map(o => o.value) : []};
  });
}"""

JS_DRIVEN_IMAGE = """(index) => {
  const control = document.querySelector(`[data-e2e-control="${index}"]`);
  if (!control) return {error: 'control gone'};
  const child = control.closest('.jp-OutputArea-child');
  if (!child) return {error: 'control not in an output area'};
  for (let next = child.nextElementSibling; next; next = next.nextElementSibling) {
    const img = next.querySelector('img');
    if (img) return {src: img.getAttribute('src') || ''};
    if (next.querySelector('.jupyter-widgets')) break;
  }
  return {src: null};
}"""

JS_NOTEBOOK_HEIGHT = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const scroller = panel.querySelector('.jp-WindowedPanel-outer') || panel.querySelector('.jp-Notebook');
  const cells = panel.querySelectorAll('.jp-Notebook .jp-Cell');
  const last = cells[cells.length - 1];
  const content = last.getBoundingClientRect().bottom - scroller.getBoundingClientRect().top + scroller.scrollTop;
  scroller.scrollTop = 0;
  return {content: Math.ceil(content), client: scroller.clientHeight};
}"""

JS_SCROLL_TOP = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const scroller = panel.querySelector('.jp-WindowedPanel-outer') || panel.querySelector('.jp-Notebook');
  scroller.scrollTop = 0;
  return scroller.scrollTop;
}"""


# Fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing: run .ci/install_browser (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "playwright is not installed: python3 -m pip install playwright "
                       "(the browser is Debian's chromium; never `playwright install`)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def lab(browser, tmp_path_factory):
    server = LabServer(ROOT, tmp_path_factory.mktemp("jupyterlab"))
    yield server
    server.stop()


# Helpers -----------------------------------------------------------------------------------------

def click_menu(page, menu: str, item: str) -> None:
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(menu)}$")).click()
    page.locator(".lm-Menu:not(.lm-mod-hidden) .lm-Menu-itemLabel",
                 has_text=re.compile(f"^{re.escape(item)}$")).first.click()


def wait_for_kernel_idle(page, timeout: float) -> None:
    """The kernel is started and connected: the status bar says "| Idle" (not "Connecting")."""
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) "
                           ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=timeout * 1000)
    page.wait_for_function("() => /\\| Idle/.test((document.querySelector('#jp-main-statusbar') || "
                           "document.body).innerText)", timeout=timeout * 1000, polling=500)


def run_all_cells(page, attempts: int = 3) -> None:
    """Run > Run All Cells, again if no cell has started within a minute (a click lost while busy)."""
    for _ in range(attempts):
        click_menu(page, "Run", "Run All Cells")
        try:
            page.wait_for_function("() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
                                   ".jp-CodeCell .jp-InputArea-prompt')].some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))",
                                   timeout=60_000, polling=500)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: try the menu again
            page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").first.click()


def wait_for_run(page, timeout: float) -> dict:
    """Poll until every non-empty code cell has an execution count and the kernel is idle."""
    deadline, stalled_since, state = time.monotonic() + timeout, None, None
    while time.monotonic() < deadline:
        state = page.evaluate(JS_STATE)
        if state and state["cells"]:
            prompts = [cell["prompt"].strip() for cell in state["cells"] if not cell["empty"]]
            running = any("*" in prompt for prompt in prompts)
            done = all(re.fullmatch(r"\[\d+\]:", prompt) for prompt in prompts)
            if state["status"] == "idle" and not running:
                if done:
                    return state
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > STALL_SECONDS:
                    return state            # stopped early (an error); the caller reports it
            else:
                stalled_since = None
        time.sleep(2.0)
    return state


def screenshot_whole_notebook(page, path) -> None:
    """Grow the window to the notebook's height, so one full-page screenshot shows every cell."""
    size = page.viewport_size
    heights = page.evaluate(JS_NOTEBOOK_HEIGHT)
    chrome = size["height"] - heights["client"]
    height = int(min(heights["content"] + chrome + 60, 60000))
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    page.wait_for_timeout(1500)
    page.evaluate(JS_SCROLL_TOP)
    page.wait_for_timeout(500)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    copy_to_tmp_screens(path)


def move_control(page, control: dict) -> None:
    element = page.locator(f'[data-e2e-control="{control["index"]}"]')
    element.scroll_into_view_if_needed()
    if control["kind"] == "dropdown":
        other = next(option for option in control["options"] if option != control["value"])
        element.locator("select").select_option(other)
        return
    handle = element.locator(".noUi-handle, .ui-slider-handle, input[type=range]").first
    handle.focus()
    key = "ArrowRight"
    handle.press(key)
    page.wait_for_timeout(300)
    readout = element.locator(".widget-readout")
    if readout.count() and readout.first.inner_text() == control["value"]:
        handle.press("ArrowLeft")       # at the maximum already: move the other way
        page.wait_for_timeout(300)
        handle.press("ArrowLeft")


# The test ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_and_its_widgets_redraw_in_jupyterlab(path, browser, lab, screens_dir):
    shutil.rmtree(lab.state_dir / "workspaces", ignore_errors=True)    # open this notebook only
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page_errors, console_errors = [], []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.on("console", lambda message: console_errors.append(message.text)
            if message.type == "error" and "net::" not in message.text else None)
    shot = screens_dir / f"{path.stem}.png"
    problems, notes = [], []
    try:
        page.goto(lab.url(f"/lab/tree/notebooks/{path.name}"), timeout=120_000)
        page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell", timeout=180_000)
        wait_for_kernel_idle(page, 180)
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").first.click()
        click_menu(page, "Edit", "Clear Outputs of All Cells")
        started = time.monotonic()
        run_all_cells(page)
        state = wait_for_run(page, RUN_TIMEOUT)
        run_seconds = time.monotonic() - started
        notes.append(f"Run All Cells took {run_seconds:.0f} s")

        # 1. every code cell ran, in order, in a fresh kernel
        prompts = [cell["prompt"].strip() for cell in (state or {"cells": []})["cells"] if not cell["empty"]]
        unrun = [i for i, prompt in enumerate(prompts) if not re.fullmatch(r"\[\d+\]:", prompt)]
        if state is None or unrun:
            problems.append(f"{len(unrun)} of {len(prompts)} code cells have no execution count after "
                            f"{run_seconds:.0f} s (first: code cell {unrun[:1]}), kernel {state and state['status']}")
        # 2. no error output
        stderr = page.evaluate(JS_OUTPUT_TEXTS, '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        rendered = page.evaluate(JS_OUTPUT_TEXTS, ".jp-RenderedText")
        errors = [text for text in stderr if "Traceback" in text or "Error" in text]
        errors += [text for text in rendered if "Traceback" in text and text not in errors]
        problems += [f"error output:\n{text[-1500:]}" for text in errors]
        notes += [f"stderr output (warning?): {text[:300]}" for text in stderr if text not in errors]

        # 3. widgets render as widgets ...
        page.wait_for_function("() => !document.body.innerText.includes('Loading widget...')", timeout=60_000)
        outputs = page.evaluate(JS_OUTPUT_TEXTS, ".jp-OutputArea-output")
        for text in outputs:
            for fallback in FALLBACKS:
                if fallback in text:
                    problems.append(f"a widget shows {fallback!r} instead of rendering: {text[:200]!r}")
        widget_count = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output .jupyter-widgets").count()
        controls = page.evaluate(JS_TAG_CONTROLS)
        notes.append(f"{widget_count} widget elements, {len(controls)} controls")
        # ... and every control redraws the figure after it
        for control in controls:
            name = f"{control['kind']} {control['label']!r} (#{control['index']})"
            if control["disabled"]:
                notes.append(f"{name} is disabled: not moved")
                continue
            before = page.evaluate(JS_DRIVEN_IMAGE, control["index"])
            if before.get("src") is None:
                problems.append(f"{name}: no figure after its widget box ({before})")
                continue
            move_control(page, control)
            try:
                page.wait_for_function(f"(before) => ({JS_DRIVEN_IMAGE})({control['index']}).src !== before",
                                       arg=before["src"], timeout=REDRAW_TIMEOUT * 1000, polling=500)
                redrawn = True
            except Exception:  # noqa: BLE001 - playwright's TimeoutError
                redrawn = False
            after = page.evaluate(JS_TAG_CONTROLS)
            value = next((c["value"] for c in after if c["index"] == control["index"]), None)
            notes.append(f"{name}: {control['value']} -> {value}")
            if not redrawn:
                problems.append(f"{name}: the figure did not change within {REDRAW_TIMEOUT:.0f} s after moving it "
                                f"(value {control['value']!r} -> {value!r})")
        page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) "
                               ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
        if "the end-to-end tests never save files" in lab.log_tail(200_000):
            problems.append("JupyterLab tried to save a notebook (refused by the test server)")
    finally:
        try:
            screenshot_whole_notebook(page, shot)
        except Exception as error:  # noqa: BLE001 - a screenshot must not hide the real failure
            notes.append(f"screenshot failed: {error}")
        context.close()
        lab.shutdown_sessions()
    print(f"\n{path.name}: " + "; ".join(notes) + f"; screenshot {shot}")
    if page_errors:
        print(f"{path.name}: uncaught page errors: {page_errors[:5]}")
    widget_console = [text for text in console_errors if "widget" in text.lower() or "model" in text.lower()]
    problems += [f"widget error in the browser console: {text[:300]}" for text in widget_console]
    assert not problems, f"{path.name} in JupyterLab (screenshot {shot}):\n" + "\n".join(problems)
