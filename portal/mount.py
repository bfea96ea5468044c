"""Attach the portal to the application: page routes, static files, and pages for errors."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from bridge.errors import AuthenticationRequired, BridgeError, InvalidInput
from portal import (
    admin_pages,
    advice_pages,
    auth_pages,
    consult_pages,
    guest_pages,
    home_pages,
    loop_pages,
    outbox_pages,
    pharmacy_pages,
    prescribe_pages,
    prescription_list_pages,
    referral_pages,
    result_entry_pages,
    result_pages,
    review_pages,
)
from portal.rendering import render

STATIC_DIR = Path(__file__).parent / "static"


def mount_portal(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(auth_pages.router)
    app.include_router(home_pages.router)
    app.include_router(admin_pages.router)
    app.include_router(outbox_pages.router)
    app.include_router(consult_pages.router)
    app.include_router(guest_pages.router)
    app.include_router(result_entry_pages.router)
    app.include_router(result_pages.router)
    app.include_router(review_pages.router)
    app.include_router(prescribe_pages.router)
    app.include_router(prescription_list_pages.router)
    app.include_router(pharmacy_pages.router)
    app.include_router(loop_pages.router)
    app.include_router(advice_pages.router)
    app.include_router(referral_pages.router)


def error_page(request: Request, error: BridgeError) -> Response:
    if isinstance(error, AuthenticationRequired):
        reason = getattr(request.state, "session_end_reason", None)
        reason = reason if reason in {"idle", "expired"} else "required"
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="/?=&")
        return RedirectResponse(f"/login?reason={reason}&next={target}", status_code=303)
    fields = error.errors if isinstance(error, InvalidInput) else []
    return render(request, "error.html", {"error": error, "fields": fields}, error.status)
