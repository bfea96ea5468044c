"""Referrals (线下转诊): a doctor sends a resident for an in-person visit to a hospital, which answers.

The model: Shanghai's internet hospitals are run by physical hospitals, so the hospital that receives
a referral is one of the internet hospitals contracted (TELEMEDICINE, bridge/directory/contracts.py)
with the resident's home, by default the referring doctor's own. The referral is a FHIR ServiceRequest
(category SNOMED 3457005 "Patient referral") with a Task that tracks it, owned by the receiving
hospital: `requested` -> `accepted` (with an appointment time) -> `completed` (with an outcome), or
`rejected` (declined, with a reason) or `cancelled` (by the referring doctor before completion).
The modules: codes.py (codes and states), records.py (the FHIR resources), states.py (the state
machine), context.py (loading a referral and who may act), service.py (`refer`), flow.py (accept,
decline, complete, cancel), tracking.py (loop tracker, live news, the hospital push in one place),
push.py (the outbox push to the hospital's FHIR server), write_rules.py (what the plain FHIR API may
not do), views.py (what the pages show).
"""
