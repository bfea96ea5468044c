"""Whether a resident's consent to record consults is on record.

Interim (replaced by the recorder work in progress): no Consent is recognised yet, so nothing is
ever recorded, which is the safe side of the rule "without consent nothing is recorded".
"""

from bridge.services import Services


def recording_consented(services: Services, patient_id: str) -> bool:
    return False
