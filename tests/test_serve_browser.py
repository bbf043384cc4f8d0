"""skytext serve in a real headless browser (Playwright driving Debian's chromium) on the micro demo results
of all four studies: the search box, grouped hits of the right class, object pages with their pictures,
"more like this", a map with hover, escaping and traversal; saves a screenshot of each page type to
docs/screenshots/. Skips with one line when no browser is installed (.ci/run installs chromium)."""

import io
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "docs" / "screenshots"
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - dev dependency
    sync_playwright = None
pytestmark = [pytest.mark.skipif(sync_playwright is None or not Path(CHROMIUM).exists(),
                                 reason="browser tests: no chromium at /usr/bin/chromium (apt-get install chromium)"),
              pytest.mark.micro_all]  # demo_results asks for the shared micro run at run time

# (study, query, class the top hits should include): four per study, of which at least three must find their
# class (issue 21: "at least 3 class queries per study"). The micro run's models are tiny and trained for seconds
# (the image model routed through its training captions finds lenses and ellipticals more easily than spirals;
# spectra: 20 epochs on 200 sources), so one query per study may miss; every query's hits are also checked
# against the engine's own ranking, which does not depend on the models' quality.
CLASS_QUERIES = {
    "images": [("gravitational lens arcs", "lens"), ("elliptical galaxy", "elliptical"),
               ("giant elliptical galaxy", "elliptical"), ("a planet in our solar system", "planet")],
    "spectra": [("active galactic nucleus", "agn"), ("rotation-powered pulsar", "pulsar"),
                ("cataclysmic variable accreting white dwarf", "cv"), ("ultraluminous X-ray source", "ulx")],
    "transients": [("saturated star", "saturated_star"), ("a real transient", "supernova"),
                   ("dipole from bad subtraction", "dipole"), ("image edge artefact", "edge")],
}
TOP = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn serving the app in a thread on a free loopback port."""

    def __init__(self, results: Path, cache: Path):
        import uvicorn

        from skytext.serve.app import create_app

        self.port = free_port()
        self.app = create_app(results, cache)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        for _ in range(600):
            if self.server.started:
                break
            time.sleep(0.1)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def demo_results(request):
    """The results of the shared micro run of all four studies (conftest ``micro_all``,
    tests/configs/micro-all.yaml), or the finished results folder named by SKYTEXT_SERVE_TEST_RESULTS."""
    given = os.environ.get("SKYTEXT_SERVE_TEST_RESULTS")
    if given:
        return Path(given)
    return request.getfixturevalue("micro_all").wf / "results"


@pytest.fixture(scope="module")
def server(demo_results, tmp_path_factory):
    s = Server(demo_results, tmp_path_factory.mktemp("serve-cache"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1100, "height": 720})
    pg = ctx.new_page()
    pg.set_default_timeout(180_000)  # the first search waits for the models to load on a busy machine
    pg.errors = []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    yield pg
    ctx.close()


def shoot(pg, name: str, full_page: bool = False) -> None:
    """A small PNG (64-colour palette) of the page for the README."""
    from PIL import Image

    SHOTS.mkdir(parents=True, exist_ok=True)
    img = Image.open(io.BytesIO(pg.screenshot(full_page=full_page))).convert("RGB")
    img = img.crop((0, 0, img.width, min(img.height, 1400)))
    img.quantize(colors=64).save(SHOTS / f"{name}.png", optimize=True)


def search(pg, base: str, query: str) -> None:
    pg.goto(base + "/")
    pg.fill("#q", query)
    pg.press("#q", "Enter")
    pg.wait_for_url("**/search?q=*")
    pg.wait_for_selector("section.group")


def top_classes(pg, study: str) -> list[str]:
    return pg.eval_on_selector_all(f"#group-{study} li.hit", "els => els.map(e => e.dataset.class)")


def natural_width(pg) -> int:
    pg.wait_for_function("document.getElementById('media') && document.getElementById('media').complete")
    return pg.eval_on_selector("#media", "e => e.naturalWidth")


def test_home_lists_every_study(page, server):
    page.goto(server.url + "/")
    for study in ("images", "spectra", "transients", "analysis"):
        assert page.locator(f"tr.study-{study}").count() == 1
    shoot(page, "home")


def test_search_box_gives_grouped_results(page, server):
    search(page, server.url, "strongly lensed arcs around a cluster")
    assert page.url.endswith("/search?q=strongly+lensed+arcs+around+a+cluster")
    groups = page.eval_on_selector_all("section.group", "els => els.map(e => e.dataset.study)")
    assert groups == ["images", "spectra", "transients"]
    for study in groups:
        assert page.locator(f"#group-{study} .verdict").count() == 1
        assert page.locator(f"#group-{study} li.hit").count() > 0
    shoot(page, "search", full_page=True)
    assert not [e for e in page.errors if "Content Security Policy" in e]


@pytest.mark.parametrize("study", list(CLASS_QUERIES))
def test_class_queries_find_their_class(page, server, study):
    found, missed = 0, []
    for query, klass in CLASS_QUERIES[study]:
        search(page, server.url, query)
        top = top_classes(page, study)[:TOP]
        if klass in top:
            found += 1
        else:
            missed.append(f"{query!r}: top {TOP} hits are {top}")
        shown = page.eval_on_selector_all(f"#group-{study} li.hit", "els => els.map(e => e.dataset.id)")
        engine = [h.id for h in server.app.state.site.pages[study].search(query, len(shown)).hits]
        assert shown == engine, query
    assert found >= 3, f"{study}: {found} of {len(CLASS_QUERIES[study])} class queries found their class; " + "; ".join(missed)


@pytest.mark.parametrize("study,query", [("images", "gravitational lens arcs"), ("spectra", "rotation-powered pulsar"),
                                         ("transients", "cosmic ray hit")])
def test_hit_opens_its_object_page_and_more_like_this(page, server, study, query):
    search(page, server.url, query)
    page.click(f"#group-{study} li.hit a")
    page.wait_for_url(f"**/object/{study}/*")
    assert natural_width(page) > 0
    shoot(page, f"object-{study}")
    first = page.locator("section.similar li.hit a").first
    target = first.get_attribute("href")
    first.click()
    page.wait_for_url("**" + target)
    assert natural_width(page) > 0


def test_map_hover_and_click(page, server):
    page.goto(server.url + "/maps")
    links = page.eval_on_selector_all("ul.maps a", "els => els.map(e => e.getAttribute('href'))")
    expected = {"/map/spectra/shared", "/map/images/image", "/map/transients/cnn", "/map/analysis/images-image"}
    assert expected <= set(links)
    page.goto(server.url + "/map/spectra/shared")
    page.wait_for_selector("#map[data-ready='1'] .scatterlayer .point")
    options = page.eval_on_selector_all("#colour option", "els => els.map(e => e.value)")
    assert options[0] == "class" and len(options) > 3
    box = page.locator(".scatterlayer .point").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector(".hoverlayer .hovertext")
    assert "(" in page.text_content(".hoverlayer .hovertext")  # "<id> (<class>)"
    shoot(page, "map")
    page.select_option("#colour", options[-1])
    page.wait_for_selector(".scatterlayer .point")
    box = page.locator(".scatterlayer .point").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url("**/object/spectra/*")
    assert not [e for e in page.errors if "Content Security Policy" in e]


def test_tables_page(page, server):
    page.goto(server.url + "/tables")
    assert page.locator("#tables-images table.sortable").count() >= 1
    assert page.locator("#tables-transients ul.errors a").count() >= 1
    shoot(page, "tables")


@pytest.mark.parametrize("url", ["/object/images/..%2F..%2Fetc%2Fpasswd", "/media/images/image/..%2F..%2Fetc%2Fpasswd",
                                 "/object/spectra/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "/static/..%2F..%2Fcli.py"])
def test_traversal_urls_are_404(page, server, url):
    assert page.goto(server.url + url).status == 404


def test_abstract_with_markup_shows_as_text(page, tmp_path):
    from test_serve import XSS, write_images

    (tmp_path / "results").mkdir()
    write_images(tmp_path / "results")
    s = Server(tmp_path / "results", tmp_path / "cache")
    try:
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(s.url + "/object/images/o0")
        assert page.inner_text("p.abstract") == XSS
        assert page.locator("p.abstract script").count() == 0 and not dialogs
        assert page.goto(s.url + "/search?q=" + quote("x" * 501)).status == 400
    finally:
        s.stop()
