"""The Telefonie-Konto in the browser (clause 5.1): server-rendered pages under ``/web``.

Clause 5.1: the customer administers the service with nothing but a PC and a web
browser; each user has an administrator or an employee profile and logs in with a user
name and a password. These pages are that, in the API's own Litestar app (so every API
node serves them, with sessions in the shared store): Jinja2 templates, German by
default and English on request, one vendored style sheet and no script, no single-page
framework, nothing from another host. They call the same ``policy`` functions as the API
and answer the same statuses; they are left out of the OpenAPI document.

Modules: ``session.py`` (cookie, tokens, expiry), ``gate.py`` (session, language and
CSRF before every page; error pages), ``pages.py`` (the request context ``w``, access,
rendering), ``login.py``, ``account.py`` (overview, site, test a number, published list),
``blocks.py`` (blocks, paid unblocks, charges), ``users.py`` (logins), ``operator.py``;
``i18n.py`` (texts, numbers, times, money). Page URLs and form fields: ``docs/web.md``.

A URL under ``/web`` that names no page is refused by Litestar's router before any route
is found; ``with_web_pages`` wraps the app's exception handlers so that it too gets the
pages' HTML error page (``/v1`` keeps its JSON).
"""

from __future__ import annotations

import pathlib

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Router
from litestar.di import Provide
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from . import account, blocks, login, operator, users
from .gate import WEB_EXCEPTION_HANDLERS, gate, with_web_pages
from .i18n import e164
from .pages import provide_w
from .session import WEB_STATE_KEY, WebState

__all__ = [
    "WEB_STATE_KEY",
    "WebState",
    "static_router",
    "templates",
    "web_router",
    "with_web_pages",
]

HERE = pathlib.Path(__file__).parent
STATIC_PATH = "/web/static"


def web_router() -> Router:
    """Every page under ``/web``, behind the gate, with HTML error pages."""
    return Router(
        "/web",
        route_handlers=[
            *login.HANDLERS,
            *account.HANDLERS,
            *blocks.HANDLERS,
            *users.HANDLERS,
            *operator.HANDLERS,
        ],
        before_request=gate,
        exception_handlers=WEB_EXCEPTION_HANDLERS,
        dependencies={"w": Provide(provide_w, sync_to_thread=False)},
        include_in_schema=False,
    )


def static_router() -> Router:
    """The style sheet, from the package (outside the gate: no session needed)."""
    return create_static_files_router(
        path=STATIC_PATH,
        directories=[HERE / "static"],
        name="web_static",
        include_in_schema=False,
    )


def templates() -> TemplateConfig[JinjaTemplateEngine]:
    """The pages' Jinja2 environment: autoescaped, and an unknown name is an error; the
    filter ``e164`` shows a number or prefix as every page does (``+49137``)."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["e164"] = e164
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(env))
