"""Open every page of the book in headless Chromium, offline.

The book is built from the smoke executions of the chapters (the same
notebooks at small parameters), served on 127.0.0.1, and each page must load
with no console error, every image decoded and every widget rendered.
Screenshots (the first screen of each page; whole pages with
EMOCIRC_FULL_SCREENSHOTS=1) land in ``_build/screenshots/``. Without Chromium the test is
skipped with a message, except under CI, where it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

from tests.conftest import ROOT, load_book_build

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "_build" / "screenshots"
FULL_SCREENSHOTS = os.environ.get("EMOCIRC_FULL_SCREENSHOTS", "") not in ("", "0")


def _require_browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed, and under CI the browser test must run")
        pytest.skip("Chromium is not installed (apt-get install chromium); browser test skipped")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        pytest.fail("playwright is not installed: run make setup")


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory, smoke_run) -> Path:
    """Build the book from the smoke-executed chapters in a temporary copy; return its html folder."""
    _require_browser()
    build = load_book_build()
    site = tmp_path_factory.mktemp("smoke-book")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, site / name)
    shutil.copytree(ROOT / "book", site / "book", ignore=shutil.ignore_patterns("executed", "__pycache__"))
    (site / "book" / "executed").mkdir()
    for source in build.discover():
        shutil.copy(smoke_run(source), site / "book" / "executed" / f"{source.stem}.ipynb")
    try:
        index = build.build_html(site)
    except build.BuildError as err:
        pytest.fail(str(err))
    return index.parent


@contextlib.contextmanager
def serve(directory: Path):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


# Pages checked at once: each spends most of its time waiting for the network to fall quiet.
PAGES_AT_ONCE = 3


@pytest.mark.browser
@pytest.mark.book
def test_every_page_renders_offline(smoke_book: Path):
    pages = sorted(
        p
        for p in smoke_book.rglob("*.html")
        if not p.name.startswith(("genindex", "search")) and "_static" not in p.parts
    )
    assert any(p.name == "index.html" for p in pages)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with serve(smoke_book) as base:
        rels = [path.relative_to(smoke_book).as_posix() for path in pages]
        problems = asyncio.run(_check_pages(base, rels))
    assert not problems, "\n".join(problems)


async def _check_pages(base: str, rels: list[str]) -> list[str]:
    """Every page's problems, in the order of ``rels``; a few pages at a time in one browser."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        slots = asyncio.Semaphore(PAGES_AT_ONCE)

        async def one(rel: str) -> list[str]:
            async with slots:
                return await _check_page(browser, f"{base}/{rel}", rel)

        try:
            found = await asyncio.gather(*(one(rel) for rel in rels))
        finally:
            await browser.close()
    return [problem for page in found for problem in page]


async def _check_page(browser, url: str, rel: str) -> list[str]:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    external: list[str] = []
    page.on(
        "request",
        lambda req: (
            external.append(req.url)
            if not req.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else None
        ),
    )
    await page.goto(url, wait_until="networkidle")
    problems = [f"{rel}: requested an external resource: {u}" for u in external]
    # Sphinx marks figures loading="lazy": load them all before judging them.
    await page.evaluate("document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; })")
    try:
        await page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=15000)
    except Exception:  # noqa: BLE001 - reported below as the images that did not load
        pass
    broken = await page.evaluate(
        "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
    )
    problems += [f"{rel}: image did not load: {src}" for src in broken]
    views = await page.evaluate(
        "document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-view+json\"]').length"
    )
    if views:
        try:
            await page.wait_for_selector(".jupyter-widgets, .widget-container", timeout=15000)
        except Exception:  # noqa: BLE001 - reported as a widget that did not render
            problems.append(f"{rel}: {views} widget view(s) but none rendered")
    await page.wait_for_load_state("networkidle")
    problems += [f"{rel}: console error: {e}" for e in errors]
    # JPEG: half the time of a PNG, and the pages are read, not diffed. The first screen of each
    # page by default: a whole chapter (16,000 px tall) takes 1-2.5 s more a page, so it is
    # taken on request (EMOCIRC_FULL_SCREENSHOTS=1), e.g. to review a build page by page.
    shot = SCREENSHOTS / (rel.replace("/", "__").removesuffix(".html") + ".jpg")
    await page.screenshot(path=str(shot), full_page=FULL_SCREENSHOTS, type="jpeg", quality=80)
    await page.close()
    return problems
