"""The web app: one FastAPI application over a results folder, built by :func:`create_app`.

Routes: ``/`` (studies and what is missing), ``/search?q=`` (one box, hits grouped by study),
``/object/<study>/<id>``, ``/media/<study>/<kind>/<id>`` (pictures by id only), ``/maps``,
``/map/<study>/<space>`` and its data ``/api/map/<study>/<space>``, ``/tables``, ``/static/*`` and
``/vendor/plotly.min.js`` (from the installed plotly package: the app works offline)."""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from skytext.serve import safety
from skytext.serve.maps import map_data
from skytext.serve.pages import REGISTRY, page_class
from skytext.serve.store import open_study

HERE = Path(__file__).resolve().parent
log = logging.getLogger(__name__)
HITS = 10
# torch intra-op threads of the served process: a request encodes one short query and scans each index once,
# work too small to split (on 2 shared cores, MiniLM's encoding of one sentence took 25 ms on one thread and
# 53 ms on two; the memory-bound top-k the same on both); concurrent requests run in parallel instead
TORCH_THREADS = 1


def plotly_js() -> Path | None:
    """plotly.js as bundled in the installed plotly Python package (no CDN)."""
    try:
        import plotly
    except ImportError:
        return None
    p = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return p if p.is_file() else None


def default_cache() -> Path:
    """Where computed UMAPs are cached (outside the results folder, which the app never writes)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "skytext" / "serve"


class Site:
    """The loaded studies: one page object per registered study (a page that fails to load becomes a note)."""

    def __init__(self, results: Path, cache: Path):
        self.results, self.cache = Path(results), Path(cache)
        self.pages, self.notes = {}, {}
        for study in REGISTRY:
            files = open_study(self.results, study)
            try:
                self.pages[study] = page_class(study)(files, self.cache)
            except Exception as exc:  # noqa: BLE001 - one broken study never stops the app
                log.exception("page %s failed to load", study)
                self.notes[study] = f"could not be loaded: {type(exc).__name__}: {str(exc)[:160]}"
        self.ready = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=max(1, len(self.pages)), thread_name_prefix="skytext-search")

    def warm_all(self) -> None:
        """Load every page's search side (models, indices, thresholds), in the background."""
        t0 = time.perf_counter()
        for page in self.pages.values():
            page.warm()
        self.ready.set()
        log.info("search ready in %.1f s", time.perf_counter() - t0)

    def status(self) -> list[dict]:
        """One row per registered study: ran or not, its source, and its notes."""
        out = []
        for study in REGISTRY:
            page = self.pages.get(study)
            if page is None:
                out.append({"name": study, "title": study, "ran": False, "notes": [self.notes[study]]})
                continue
            out.append({"name": study, "title": page.title, "ran": page.ran, "source": page.files.source,
                        "notes": list(page.files.notes), "searchable": page.searchable and page.ran,
                        "spaces": [(s.name, s.title) for s in page.spaces()] if page.ran else []})
        return out

    def page(self, study: str):
        """The page of a study that ran, or ``None``."""
        p = self.pages.get(study)
        return p if p is not None and p.ran else None


def _templates() -> Environment:
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(default=True))
    env.filters["fmt"] = lambda v: (f"{v:.3g}" if isinstance(v, float) else ("" if v is None else v))
    return env


def create_app(results: str | Path = "results", cache: str | Path | None = None, warm: bool = True) -> FastAPI:
    """The app over ``results``; with ``warm`` the search side loads in a background thread at start-up."""
    site = Site(Path(results), Path(cache) if cache else default_cache())
    env = _templates()
    app = FastAPI(title="skytext", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.site = site
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def render(name: str, status: int = 200, **ctx) -> HTMLResponse:
        ctx.setdefault("studies", site.status())
        ctx.setdefault("q", "")
        return HTMLResponse(env.get_template(name).render(**ctx), status_code=status)

    app.add_middleware(SecurityHeaders)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return render("error.html", exc.status_code, message=str(exc.detail), code=exc.status_code)

    if warm:
        app.router.on_startup.append(lambda: threading.Thread(target=site.warm_all, daemon=True).start())
    _search_routes(app, site, render)
    _object_routes(app, site, render)
    _map_routes(app, site, render)
    return app


class SecurityHeaders:
    """ASGI middleware: every response gets :data:`skytext.serve.safety.HEADERS` (a header the route set stays),
    and HEAD is answered as GET without the body (the routes are declared for GET; StaticFiles answers HEAD
    itself). Plain ASGI: the response streams through untouched (Starlette's ``BaseHTTPMiddleware`` costs a
    task and a stream per request)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        head = scope["method"] == "HEAD" and not scope["path"].startswith("/static/")
        if head:
            scope = dict(scope, method="GET")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in safety.HEADERS.items():
                    headers.setdefault(k, v)
            elif head and message["type"] == "http.response.body":
                message = dict(message, body=b"")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def not_found(what: str = "not found"):
    """Raise the app's 404."""
    raise StarletteHTTPException(404, what)


def _search_routes(app: FastAPI, site: Site, render) -> None:
    @app.get("/", response_class=HTMLResponse)
    def index():
        return render("index.html")

    @app.get("/search", response_class=HTMLResponse)
    def search(q: str = ""):
        err = safety.check_query(q)
        if err:
            return render("error.html", 400, message=err, code=400)
        q = q.strip()
        if not q:
            return render("index.html")

        def one(study: str, page) -> dict:
            page.warm()
            g = page.search(q, HITS)
            hits = [] if g is None else [{"id": h.id, "score": h.score, "cosine": h.cosine, "url": page.url(h.id),
                                          **page.hit_info(h.id)} for h in g.hits]
            return {"study": study, "title": page.title, "group": g, "hits": hits,
                    "unavailable": "; ".join(page.files.notes) or "no search index"}

        # the studies are searched side by side (each is read-only; a shared text encoder encodes once)
        jobs = [site.pool.submit(one, study, page) for study, page in site.pages.items()
                if page.ran and page.searchable]
        return render("search.html", q=q, groups=[j.result() for j in jobs])

    @app.get("/tables", response_class=HTMLResponse)
    def tables():
        blocks = [{"study": study, "title": page.title, "tables": _safe_tables(page)}
                  for study, page in site.pages.items() if page.ran]
        return render("tables.html", blocks=blocks)


def _object_routes(app: FastAPI, site: Site, render) -> None:
    @app.get("/object/{study}/{oid}", response_class=HTMLResponse)
    def obj(study: str, oid: str):
        page = site.page(study)
        if page is None or not safety.valid_id(oid):
            not_found()
        page.warm()
        ctx = page.object(oid)
        if ctx is None:
            not_found(f"no {study} object {oid}")
        return render(f"object_{study}.html", page=page, oid=oid, **ctx)

    @app.get("/media/{study}/{kind}/{oid}")
    def media(study: str, kind: str, oid: str):
        page = site.page(study)
        if page is None or not safety.valid_id(oid) or not safety.valid_id(kind):
            not_found()
        data = page.media_cached(kind, oid)
        if data is None:
            not_found()
        return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


def _map_routes(app: FastAPI, site: Site, render) -> None:
    def space_of(study: str, space: str):
        page = site.page(study)
        spaces = {s.name: s for s in page.spaces()} if page is not None else {}
        if space not in spaces:
            not_found()
        return page, spaces[space]

    @app.get("/maps", response_class=HTMLResponse)
    def maps():
        return render("maps.html")

    @app.get("/map/{study}/{space}", response_class=HTMLResponse)
    def map_page(study: str, space: str):
        page, sp = space_of(study, space)
        return render("map.html", study=study, space=sp, page=page)

    @app.get("/api/map/{study}/{space}")
    def map_json(study: str, space: str):
        page, sp = space_of(study, space)
        try:
            return JSONResponse(map_data(page, sp, site.results, site.cache, 0))
        except Exception as exc:  # noqa: BLE001 - e.g. too few points for UMAP
            return JSONResponse({"error": f"no map: {type(exc).__name__}: {str(exc)[:160]}"})

    @app.get("/vendor/plotly.min.js")
    def plotly():
        p = plotly_js()
        if p is None:
            not_found("plotly is not installed")
        return FileResponse(p, media_type="application/javascript")


def _safe_tables(page) -> list:
    try:
        return page.tables()
    except Exception as exc:  # noqa: BLE001
        page.files.note(f"tables could not be built ({type(exc).__name__})")
        return []
