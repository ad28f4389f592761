"""The local area SEND dashboard: a small Datasette plugin inside sendbench.

It adds two pages to ``sendbench serve``: ``/-/sendbench/dashboard`` (one LA against its
statistical neighbours, region and England, by logic-model outcome, with inline SVG charts) and
``/-/sendbench/api`` (the JSON endpoints other tools should use). :func:`sendbench.db.serve.
make_datasette` registers this package with Datasette's plugin manager, so Datasette serves its
``templates/`` and ``static/`` folders (``/-/static-plugins/sendbench.dashboard/…``); nothing is
fetched from a CDN.
"""

from __future__ import annotations

from datasette import hookimpl
from datasette.utils.asgi import Response

from sendbench.dashboard.views import API_PATH, DASHBOARD_PATH, api_page, dashboard_page
from sendbench.db import capacity

PLUGIN_NAME = "sendbench.dashboard"


async def _home(request) -> Response:
    return Response.redirect(DASHBOARD_PATH)


@hookimpl
def register_routes():
    """The dashboard, the API guide, and /-/sendbench/ redirecting to the dashboard."""
    return [
        (r"^/-/sendbench/dashboard$", dashboard_page),
        (r"^/-/sendbench/api$", api_page),
        (r"^/-/sendbench/?$", _home),
    ]


@hookimpl
def menu_links(datasette):
    """Links to the dashboard and the API guide in Datasette's menu."""
    return [
        {"href": datasette.urls.path(DASHBOARD_PATH), "label": "SEND dashboard"},
        {"href": datasette.urls.path(API_PATH), "label": "SEND API guide"},
    ]


@hookimpl
def asgi_wrapper(datasette):
    """Expensive requests queue in a lane of their own (sendbench.db.capacity), so the
    dashboard and the documented endpoints keep their SQL threads."""
    return capacity.wrap
