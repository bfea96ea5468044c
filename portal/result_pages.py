"""A resident's results on the chart: laboratory tables with trends and the ECG viewer, kept current.

The resident page (portal/home_pages.py) includes the results section (portal/templates/_ecg_viewer.html
and _lab_table.html); when a ``result.new`` for the resident arrives on the page's signalling socket,
portal/static/results-live.js fetches the section again from ``GET /residents/{id}/results`` and
swaps it in. The section is built by bridge/results/chart_results.py: the portal maps no FHIR.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bridge.api.deps import PrincipalDep, ServicesDep
from bridge.auth.principal import Principal
from bridge.results.chart_results import ChartResults, build_results
from bridge.services import Services
from portal.rendering import render, templates

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

SECTION_TEMPLATES = ("_ecg_viewer.html", "_lab_table.html")
# Keys the section's scripts need (portal/static/ecg-viewer.js, lab-trend.js, results-live.js).
CLIENT_STRINGS = ("results.js.", "results.live.", "results.trend.", "results.flag.")


def results_for(services: Services, principal: Principal, patient_id: str) -> ChartResults:
    """The resident's results, for a caller allowed to see the resident (else NotFound)."""
    services.policy.require_resident(principal, patient_id)
    return build_results(services.repository, patient_id)


templates.env.globals["RESULT_STRINGS"] = CLIENT_STRINGS


@router.get("/residents/{patient_id}/results")
def results_section(patient_id: str, request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    """The results section as an HTML fragment, for the page to swap in after a ``result.new``."""
    results = results_for(services, principal, patient_id)
    context = {"results": results, "patient_id": patient_id}
    body = b"".join(bytes(render(request, name, context).body) for name in SECTION_TEMPLATES)
    logger.debug("results of Patient/%s: %d groups, %d ECGs", patient_id, len(results.groups), len(results.ecgs))
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})
