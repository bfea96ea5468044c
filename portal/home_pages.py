"""Each role's home page, and a resident's chart."""

from __future__ import annotations

from itertools import groupby

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bridge.accounts.roles import Role
from bridge.api.deps import PrincipalDep, ServicesDep
from bridge.audit import recent_audit_events
from bridge.directory.chart import build_chart
from bridge.directory.residents import ResidentSummary
from bridge.errors import AccessDenied
from bridge.results.chart_results import build_results
from bridge.supervision import organization_overview
from portal.admin_pages import accounts_page
from portal.advice_pages import advice_panel
from portal.referral_pages import referral_panel
from portal.rendering import render
from portal.review_pages import review_panel

router = APIRouter(include_in_schema=False)


def _resident_groups(
    services: ServicesDep, summaries: list[ResidentSummary]
) -> list[tuple[str, list[ResidentSummary]]]:
    names = services.organizations.names({s.home_id for s in summaries})
    return [(names.get(home, home), list(items)) for home, items in groupby(summaries, key=lambda s: s.home_id)]


@router.get("/")
def home(request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    if not principal.is_user:
        raise AccessDenied()
    if principal.role in {Role.NURSE, Role.DOCTOR, Role.PHARMACIST}:
        summaries = services.residents.summaries(services.policy.visible_residents(principal))
        template = {
            Role.NURSE: "home_nurse.html",
            Role.DOCTOR: "home_doctor.html",
            Role.PHARMACIST: "home_pharmacist.html",
        }[principal.role]
        return render(
            request,
            template,
            {"groups": _resident_groups(services, summaries), "count": len(summaries), "today": services.now().date()},
        )
    if principal.role is Role.SUPERVISOR:
        orgs = services.policy.supervised_organization_ids(principal)
        return render(request, "home_supervisor.html", {"rows": organization_overview(services, orgs)})
    return accounts_page(request, principal, services)


@router.get("/residents/{patient_id}")
def resident(patient_id: str, request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    patient = services.policy.require_resident(principal, patient_id)
    summary = services.residents.summaries([patient])[0]
    home = services.organizations.names({summary.home_id}).get(summary.home_id, "")
    return render(
        request,
        "resident.html",
        {
            "resident": summary,
            "home_name": home,
            "age": summary.age_on(services.now().date()),
            "chart": build_chart(services.repository, patient_id),
            "results": build_results(services.repository, patient_id),
            "referral_panel": referral_panel(services, principal, patient_id),
            "advice_panel": advice_panel(services, principal, patient_id),
            "review_panel": review_panel(services, principal, patient_id),
        },
    )


@router.get("/supervision/audit")
def audit(request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    orgs = services.policy.supervised_organization_ids(principal)
    events = recent_audit_events(services.repository, orgs, 200)
    return render(request, "audit.html", {"events": events})
