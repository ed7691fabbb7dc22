"""``make lab``: the chapters open as notebooks, run, and save back to their ``.py``.

The browser tests start JupyterLab the way ``make lab`` does (the same
``lab/jupyter_lab_config.py``), on 127.0.0.1 with a free port and a token,
over a temporary copy of a chapter and of ``jupytext.toml``, with Jupyter's
own folders in the test's temporary directory, so that neither the project's
files nor the user's Jupyter settings are touched (the configuration registers
the environment's kernel in the environment, as ``make lab`` does). They drive the lab as a
user does: a double click on the chapter, Shift+Enter on its cells, an edit
in the parameters cell, Ctrl+S. Without Chromium they are skipped, except
under CI, where they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, load_book_build
from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS, SCREENSHOTS

CHAPTER = "01_circumplex.py"
LAB_CONFIG = ROOT / "lab" / "jupyter_lab_config.py"
START_TIMEOUT_S = 90
# A kernel that imports emocirc on a loaded 2-core machine takes a while.
CELL_TIMEOUT_MS = 120_000

# A text notebook that shows one of the package's explorers (two tiny days).
EXPLORER_NOTEBOOK = """\
# %%
import sys

import pandas as pd

from emocirc.diary import DiaryMap
from emocirc.plotting import heatmap

print("kernel:", sys.executable)
windows = pd.DataFrame({"day": ["d1", "d1", "d2", "d2"], "valence": [0.5, 0.4, -0.5, -0.6],
                        "arousal": [0.2, 0.3, -0.5, -0.4]})
explorer = heatmap.diary_explorer({3.0: DiaryMap.from_windows(windows, grid_size=20)})
explorer
"""


def _require_lab_browser() -> None:
    """Skip without Chromium (fail under CI, as tests/test_browser.py does); fail without the lab's packages."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed, and under CI the lab test must run")
        pytest.skip("Chromium is not installed (apt-get install chromium); lab browser test skipped")
    try:
        import jupyterlab  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as err:
        pytest.fail(f"{err.name} is not installed: run make setup")


def _wait_for_server(proc: subprocess.Popen, runtime: Path, token: str) -> str:
    """The base URL of the lab started as ``proc``, once its API answers."""
    deadline = time.monotonic() + START_TIMEOUT_S
    info = runtime / f"jpserver-{proc.pid}.json"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}")
        if info.exists():
            try:
                port = json.loads(info.read_text())["port"]
                url = f"http://127.0.0.1:{port}"
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5):
                    return url
            except (OSError, ValueError, KeyError):
                pass
        time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer within {START_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A running lab over a copy of the chapter; yields (base URL, token, root folder)."""
    _require_lab_browser()
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "project"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "jupytext.toml", root / "jupytext.toml")
    shutil.copy(ROOT / "notebooks" / CHAPTER, root / "notebooks" / CHAPTER)
    (root / "notebooks" / "explorer_check.py").write_text(EXPLORER_NOTEBOOK)
    # The test's own user setting: every cell in the page (JupyterLab otherwise attaches only
    # the cells near the view), so that cells can be counted and clicked by position.
    tracker = tmp / "config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    # No "Jupyter news?" toast over the cells (the answer a user gives once).
    notification = tracker.parent / "apputils-extension"
    notification.mkdir()
    (notification / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    token = os.urandom(16).hex()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),
        "JUPYTER_DATA_DIR": str(tmp / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "JUPYTER_PREFER_ENV_PATH": "1",  # as make lab sets it
    }
    env.pop("MPLBACKEND", None)
    cmd = [
        sys.executable, "-m", "jupyterlab", f"--config={LAB_CONFIG}", f"--ServerApp.root_dir={root}",
        "--ip=127.0.0.1", "--port=0", "--ServerApp.port_retries=0", "--no-browser",
        f"--IdentityProvider.token={token}",
    ]  # fmt: skip
    log = (tmp / "lab.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    try:
        try:
            base = _wait_for_server(proc, tmp / "runtime", token)
        except RuntimeError as err:
            pytest.fail(f"{err}; log:\n{(tmp / 'lab.log').read_text()[-3000:]}")
        yield base, token, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def page(lab, request):
    """A page on the lab; its last view lands in _build/screenshots/lab-<test>.png."""
    from playwright.sync_api import sync_playwright

    base, token, _ = lab
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            # ?reset: a fresh workspace, not the tabs an earlier test left open.
            page.goto(f"{base}/lab?reset&token={token}")
            page.wait_for_selector(".jp-DirListing-item", timeout=START_TIMEOUT_S * 1000)
            yield page
        finally:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(Exception):
                page.screenshot(path=str(SCREENSHOTS / f"lab-{request.node.name}.png"))
            browser.close()


def _open_by_double_click(page, name: str):
    """Double-click notebooks/<name> in the file browser, as a user does; return its notebook panel."""
    page.locator(".jp-DirListing-item", has_text="notebooks").first.dblclick()
    page.locator(".jp-DirListing-item", has_text=name).first.dblclick()
    page.wait_for_selector(f"#jp-main-dock-panel .lm-TabBar-tabLabel:has-text('{name}')")
    panel = page.locator(".jp-NotebookPanel:visible")
    page.locator(".jp-NotebookPanel:visible .jp-Cell, .jp-FileEditor:visible").first.wait_for()
    assert page.locator(".jp-FileEditor:visible").count() == 0, f"{name} opened in the text editor"
    # The environment's kernel starts without asking which (the lab's "Select Kernel" dialog);
    # cells run before it is up would be lost or open that dialog.
    page.locator("#jp-main-statusbar", has_text="Python (emocirc) | Idle").wait_for(timeout=CELL_TIMEOUT_MS)
    _no_dialog(page)
    return panel


def _no_dialog(page) -> None:
    """Fail with its text when the lab shows a dialog (a kernel choice, a conflict) instead of working."""
    page.wait_for_timeout(300)
    dialogs = page.locator(".jp-Dialog")
    assert dialogs.count() == 0, f"the lab opened a dialog: {dialogs.first.inner_text()!r}"


def _run_cell(panel, index: int) -> None:
    """Click into cell ``index`` and run it with Shift+Enter."""
    cell = panel.locator(".jp-Cell").nth(index)
    _no_dialog(cell.page)
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputArea-editor").click()
    cell.page.keyboard.press("Shift+Enter")


def _output_text(panel, index: int, contains: str) -> str:
    cell = panel.locator(".jp-Cell").nth(index)
    out = cell.locator(".jp-OutputArea-output", has_text=contains)
    out.first.wait_for(timeout=CELL_TIMEOUT_MS)
    return cell.locator(".jp-OutputArea").inner_text()


def _uncertain_line(value: float) -> str:
    """What the chapter prints for a threshold, computed here from the package."""
    from emocirc import russell

    angles = russell.word_angles()
    uncertain = angles[angles["resultant_length"] < value]
    return f"{len(uncertain)} word(s) with resultant length below {value}:"


@pytest.mark.browser
def test_chapter_opens_as_notebook_runs_and_saves_to_its_py(lab, page, tmp_path):
    import jupytext
    from playwright.sync_api import expect

    _, _, root = lab
    source = root / "notebooks" / CHAPTER
    original = source.read_text()
    cells = jupytext.read(source).cells
    params = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    package = next(i for i, c in enumerate(cells) if "russell.word_angles()" in c.source)

    panel = _open_by_double_click(page, CHAPTER)
    # A notebook, not the text editor: one rendered cell per cell of the .py.
    expect(panel.locator(".jp-Cell")).to_have_count(len(cells))
    expect(panel.locator(".jp-MarkdownCell")).to_have_count(sum(c.cell_type == "markdown" for c in cells))

    # The parameters cell, the imports and everything up to the cell that calls the package.
    for index in range(params, package + 1):
        if cells[index].cell_type == "code":
            _run_cell(panel, index)
    declared = float(load_book_build().declared_parameters(source)["min_resultant_length"])
    assert _uncertain_line(declared) in _output_text(panel, package, "resultant length below")

    # Rerun with another parameter value, typed over the last line of the parameters cell.
    old_line = cells[params].source.splitlines()[-1]
    assert old_line.startswith("min_resultant_length ="), "the test edits the parameters cell's last line"
    new = 0.8 if declared != 0.8 else 0.6
    editor = panel.locator(".jp-Cell").nth(params).locator(".jp-InputArea-editor")
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.press("Shift+Home")
    page.keyboard.type(f"min_resultant_length = {new}")
    page.keyboard.press("Shift+Enter")
    _run_cell(panel, package)
    assert _uncertain_line(new) in _output_text(panel, package, f"below {new}:")

    # Ctrl+S writes the .py (and its git-ignored .ipynb pair).
    page.keyboard.press("Control+S")
    deadline = time.monotonic() + 30
    while f"min_resultant_length = {new}" not in source.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    saved = source.read_text()
    # Exactly the edit: percent format, cell tags and every other line unchanged.
    assert saved == original.replace(old_line, f"min_resultant_length = {new}", 1)
    assert (root / "notebooks" / CHAPTER.replace(".py", ".ipynb")).exists()
    if shutil.which("git") and (ROOT / ".git").exists():
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", f"notebooks/{CHAPTER.replace('.py', '.ipynb')}"], cwd=ROOT
        )
        assert ignored.returncode == 0, "the paired .ipynb is not git-ignored"

    # The saved chapter still runs under the book build, with the new default.
    build = load_book_build()
    assert build.declared_parameters(source) == {"min_resultant_length": str(new)}
    executed = tmp_path / "executed.ipynb"
    build.execute(source, executed, {}, timeout=300)
    assert _uncertain_line(new) in executed.read_text()


@pytest.mark.browser
def test_explorer_widgets_work_live_against_the_kernel(lab, page):
    panel = _open_by_double_click(page, "explorer_check.py")
    _run_cell(panel, 0)
    # The kernel is the project environment's Python, the one running these tests.
    assert f"kernel: {sys.executable}" in _output_text(panel, 0, "kernel:")
    label = panel.locator(".widget-label", has_text="d1")
    label.wait_for(timeout=CELL_TIMEOUT_MS)
    image = panel.locator(".widget-image")
    before = image.get_attribute("src")
    # Moving the slider makes the kernel redraw: the label and the image come back changed.
    panel.locator(".widget-slider .noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    panel.locator(".widget-label", has_text="d2").wait_for(timeout=CELL_TIMEOUT_MS)
    page.wait_for_function(
        "([sel, before]) => document.querySelector(sel)?.getAttribute('src') !== before",
        arg=[".jp-NotebookPanel:not(.lm-mod-hidden) .widget-image", before],
        timeout=CELL_TIMEOUT_MS,
    )


def test_every_chapter_round_trips_through_the_lab_unchanged(tmp_path):
    """Opening and saving a chapter in the lab (Jupytext's contents manager) rewrites it byte for byte."""
    from jupytext import TextFileContentsManager

    shutil.copy(ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns("*.ipynb"))
    manager = TextFileContentsManager(root_dir=str(tmp_path))
    chapters = load_book_build().discover(tmp_path / "notebooks")
    assert chapters
    for chapter in chapters:
        path = f"notebooks/{chapter.name}"
        original = chapter.read_text()
        model = manager.get(path)
        assert model["type"] == "notebook", f"{chapter.name} does not open as a notebook"
        manager.save(model, path)
        assert chapter.read_text() == original, f"{chapter.name} changed when saved from the lab"
        assert (tmp_path / "notebooks" / f"{chapter.stem}.ipynb").exists()


@pytest.mark.parametrize("uid", [0, 1000])
def test_lab_config_allows_root_only_to_root_and_registers_the_environments_kernel(
    monkeypatch, tmp_path, uid
):
    import runpy

    import ipykernel.kernelspec
    from traitlets.config import Config

    registered: list[dict] = []
    monkeypatch.setattr(ipykernel.kernelspec, "install", lambda **kw: registered.append(kw))
    monkeypatch.setattr(sys, "prefix", str(tmp_path))  # no kernel registered there yet
    monkeypatch.setattr(os, "geteuid", lambda: uid)
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))  # the config prepends the environment's bin
    config = Config()
    runpy.run_path(str(LAB_CONFIG), init_globals={"get_config": lambda: config})
    assert config.ServerApp.allow_root is (uid == 0)
    assert Path(config.ServerApp.root_dir) == ROOT
    assert (Path(config.LabApp.app_settings_dir) / "overrides.json").exists()
    assert registered == [
        {"prefix": sys.prefix, "kernel_name": "emocirc", "display_name": "Python (emocirc)"}
    ]
    assert config.MappingKernelManager.default_kernel_name == "emocirc"
    assert os.environ["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


def test_lab_config_starts_without_the_kernel_when_the_environment_is_read_only(
    monkeypatch, tmp_path, caplog
):
    import runpy

    import ipykernel.kernelspec
    from traitlets.config import Config

    def read_only(**_kw):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(ipykernel.kernelspec, "install", read_only)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))
    config = Config()
    runpy.run_path(str(LAB_CONFIG), init_globals={"get_config": lambda: config})
    assert "default_kernel_name" not in config.MappingKernelManager
    assert "could not register the emocirc kernel" in caplog.text


def test_lab_config_keeps_a_kernel_already_registered_for_this_interpreter(monkeypatch, tmp_path):
    import runpy

    import ipykernel.kernelspec
    from traitlets.config import Config

    spec = tmp_path / "share" / "jupyter" / "kernels" / "emocirc" / "kernel.json"
    spec.parent.mkdir(parents=True)
    spec.write_text(
        json.dumps({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]})
    )
    registered: list[dict] = []
    monkeypatch.setattr(ipykernel.kernelspec, "install", lambda **kw: registered.append(kw))
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))
    config = Config()
    runpy.run_path(str(LAB_CONFIG), init_globals={"get_config": lambda: config})
    assert registered == [] and config.MappingKernelManager.default_kernel_name == "emocirc"
