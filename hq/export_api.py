"""Reports as files to download (FEATURES R6): CSV or XLSX (hq.export) answered at
once, or, for an export too large for that, built in the background and fetched when
ready from HQ's store, by the operator who asked, from whichever HQ process."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import web

from hq import export
from hq.errors import ExportFailed, InvalidQuery, NotFound
from hq.http_common import ACTOR, HQ_KEY
from hq.service import wall_ms
from hq.storage.base import HQStore
from protocol.access import requires

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


async def records_download(
    request: web.Request, name: str, records: list[dict[str, Any]], columns: tuple[str, ...]
) -> web.Response:
    """A list report's records as an export: a column each (money where it is `_fen`,
    shown as yuan), blanks for what a record does not have."""
    rows: list[list[int | str]] = [
        ["" if record.get(column) is None else record[column] for column in columns] for record in records
    ]
    header = [column.removesuffix("_fen") for column in columns]
    money = {i for i, column in enumerate(columns) if column.endswith("_fen")}
    return await download(request, requested_format(request), name, header, rows, money)


def requested_format(request: web.Request) -> str:
    fmt = request.query.get("format", "csv")
    if fmt not in export.FORMATS:
        raise InvalidQuery(f"format must be one of {', '.join(export.FORMATS)}")
    return fmt


def requested_section(request: web.Request, sections: tuple[str, ...]) -> str:
    section = request.query.get("section", sections[0])
    if section not in sections:
        raise InvalidQuery(f"section must be one of {', '.join(sections)}")
    return section


# An export of more rows than this is built in the background: the request answers at
# once (202) with where to fetch the file, so no download waits on a proxy's timeout.
EXPORT_INLINE_ROWS = 20_000
# The background builds under way, held so none is collected before it is done.
_BUILDING: set[asyncio.Task[None]] = set()


async def download(
    request: web.Request, fmt: str, name: str, header: list[str], rows: list[list[int | str]], money: set[int]
) -> web.Response:
    def build() -> bytes:
        return (
            export.to_csv(header, rows, money) if fmt == "csv" else export.to_xlsx(name, header, rows, money)
        )

    filename = f"{name}.{fmt}"
    login = request[ACTOR].login
    if len(rows) <= EXPORT_INLINE_ROWS:
        log.info("%s exported %s (%d rows)", login, filename, len(rows))
        return _file(filename, export.CONTENT_TYPES[fmt], build())
    store = request.app[HQ_KEY].store
    export_id = secrets.token_hex(16)
    await store.start_export(export_id, login, filename, export.CONTENT_TYPES[fmt], wall_ms())
    task = asyncio.create_task(_build_in_background(store, export_id, build))
    _BUILDING.add(task)
    task.add_done_callback(_BUILDING.discard)
    log.info(
        "%s asked for %s (%d rows), built in the background as %s", login, filename, len(rows), export_id
    )
    url = f"/api/exports/{export_id}"
    return web.json_response({"export": export_id, "rows": len(rows), "url": url}, status=202)


async def _build_in_background(store: HQStore, export_id: str, build: Callable[[], bytes]) -> None:
    try:
        body = await asyncio.to_thread(build)
    except Exception as exc:  # recorded for the operator who asked, never lost silently
        log.exception("export %s failed", export_id)
        await store.finish_export(export_id, None, f"{type(exc).__name__}: {exc}")
        return
    await store.finish_export(export_id, body, None)


@routes.get("/api/exports/{export_id}")
@requires("reports:export")
async def fetch_export(request: web.Request) -> web.Response:
    """An export built in the background, to the operator who asked for it: 202 while it
    is built, then the file; kept a day."""
    export_id = request.match_info["export_id"]
    found = await request.app[HQ_KEY].store.export(export_id, request[ACTOR].login)
    if found is None:
        raise NotFound(f"no export {export_id} of yours: exports are kept a day; ask for it again")
    name, content_type, body, error = found
    if error is not None:
        raise ExportFailed(f"export {export_id} failed: {error}")
    if body is None:
        return web.json_response({"export": export_id, "status": "building"}, status=202)
    return _file(name, content_type, body)


def _file(filename: str, content_type: str, body: bytes) -> web.Response:
    return web.Response(
        body=body,
        headers={"Content-Type": content_type, "Content-Disposition": f'attachment; filename="{filename}"'},
    )
