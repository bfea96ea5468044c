"""ECG files in: from an upload to the resident's ECG Observation with its automated measurements and
the original files, or to the quarantine.

1. the resident: a Patient id the sender may see, or an identifier value among the sender's homes;
2. the files are read (`fhir_adapter.ecg.read_ecg`: WFDB, HL7 aECG, SCP-ECG, DICOM, CSV); a file
   that cannot become an ECG is quarantined with the reason (all its files, and the parameters);
3. measurements on the extract shown to doctors (a long recording's 10-second window), labelled as
   automated; the Observation carries that extract, its `derivedFrom` the DocumentReference of the
   original files, which are kept whole (bridge/ingest/source_files.py);
4. one transaction as the sender: the DocumentReference and the Observation (checked like any FHIR
   write, audited), then critical values and news for open pages.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fhir_adapter.ecg import EcgFormatError, display_extract, ecg_observation, read_ecg
from fhir_adapter.ecg.measurements import measure_ecg
from fhir_adapter.ecg.measurements_fhir import MEASUREMENT_METHOD, measurement_components
from fhir_adapter.errors import OperationOutcomeError
from sqlalchemy.exc import OperationalError

from bridge.auth.principal import Principal
from bridge.directory.residents import home_of
from bridge.fhir_api.context import FhirContext
from bridge.ingest.quarantine import InputKind, Quarantine, QuarantineEntry, Rejection
from bridge.ingest.residents import GivenIdentifier, Matched, match_resident
from bridge.ingest.source_files import document_for, keep_source_files
from bridge.ingest.storing import after_storing, outcome_text, references, store_transaction
from bridge.services import Services

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EcgUpload:
    files: Mapping[str, bytes]
    patient: str  # a Patient id or an identifier value
    device: str | None = None
    sampling_rate: float | None = None

    def parameters(self) -> dict[str, Any]:
        return {"patient": self.patient, "device": self.device, "sampling_rate": self.sampling_rate}


@dataclass(frozen=True)
class EcgAnswer:
    observation: dict[str, Any] | None
    created: list[str]
    rejection: Rejection | None = None
    quarantine_id: str | None = None


class EcgIngestion:
    def __init__(self, services: Services, sender: Principal, *, channel: str, client_address: str | None) -> None:
        self.services = services
        self.sender = sender
        self.channel = channel
        self.client_address = client_address

    def receive(self, upload: EcgUpload, *, keep: bool = True, patient_id: str | None = None) -> EcgAnswer:
        """`keep` False and `patient_id` set: a replay of what the quarantine holds already. A failure of
        the bridge's own rolls back what was done and keeps the files in the quarantine."""
        savepoint = self.services.db.begin_nested()
        try:
            answer = self._receive(upload, keep=keep, patient_id=patient_id)
        except OperationalError:
            raise  # the database itself (locked, gone): nothing can be kept now; the uploader is told 500
        except Exception as exc:
            logger.exception("ECG upload from %s could not be processed; keeping it", self.sender.reference)
            savepoint.rollback()
            reason = f"the bridge failed while processing it ({type(exc).__name__})"
            return self._rejected(upload, Rejection("processing_failed", reason), keep)
        savepoint.commit()
        return answer

    def _receive(self, upload: EcgUpload, *, keep: bool, patient_id: str | None) -> EcgAnswer:
        matched = self._resident(upload.patient, patient_id)
        if isinstance(matched, Rejection):
            return self._rejected(upload, matched, keep)
        try:
            recording = read_ecg(upload.files, sampling_rate=upload.sampling_rate)
        except EcgFormatError as error:
            return self._rejected(upload, Rejection(f"ecg_{error.code}", error.reason), keep)
        shown = display_extract(recording)
        leads = {lead.name: lead.millivolts() for lead in shown.leads}
        measured = measure_ecg(leads, shown.sampling_rate, sex=matched.patient.get("gender"))
        document_url, document = document_for(self.services, matched, upload.files, recording)
        observation = ecg_observation(
            shown,
            subject_reference=matched.reference,
            device_reference=self._device(upload.device),
            source_document_reference=document_url,
            extra_components=measurement_components(measured),
        )
        # The measurements among the components are the device's own reading, not a clinician's.
        observation["method"] = MEASUREMENT_METHOD
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": document_url,
                    "resource": document,
                    "request": {"method": "POST", "url": "DocumentReference"},
                },
                {
                    "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                    "resource": observation,
                    "request": {"method": "POST", "url": "Observation"},
                },
            ],
        }
        ctx = FhirContext(self.services, self.sender, self.services.settings.public_base_url, self.client_address)
        savepoint = self.services.db.begin_nested()
        try:
            stored = store_transaction(ctx, bundle, self.services.settings.fhir_max_bundle_entries)
        except OperationOutcomeError as error:
            savepoint.rollback()
            return self._rejected(upload, Rejection("not_storable", outcome_text(error)), keep)
        savepoint.commit()
        document_id = next(r["id"] for r in stored if r["resourceType"] == "DocumentReference")
        written = next(r for r in stored if r["resourceType"] == "Observation")
        observation_id = written["id"]
        keep_source_files(self.services, document_id, matched.patient["id"], upload.files)
        after_storing(self.services, matched.patient, stored, "ecg", self.sender)
        logger.info(
            "ECG (%s, %d leads, %.0f s) from %s stored as Observation/%s for %s",
            recording.source_format,
            len(recording.leads),
            recording.duration_s,
            self.sender.reference,
            observation_id,
            matched.reference,
        )
        return EcgAnswer(written, references(stored))

    def _resident(self, given: str, patient_id: str | None) -> Matched | Rejection:
        homes = self.services.policy.visible_home_ids(self.sender)
        wanted = (patient_id or given or "").strip()
        if not wanted:
            return Rejection("no_patient", "say which resident the ECG is about (patient: an id or an identifier)")
        try:
            patient = self.services.repository.read("Patient", wanted)
        except OperationOutcomeError:
            return match_resident(self.services, [GivenIdentifier(wanted)], homes)
        if home_of(patient) not in homes:
            return Rejection("unknown_patient", f"no resident of the sender's homes is {wanted}")
        return Matched(patient)

    def _device(self, device: str | None) -> str | None:
        if not device:
            return None
        try:
            self.services.repository.read("Device", device)
        except OperationOutcomeError:
            return None
        return f"Device/{device}"

    def _rejected(self, upload: EcgUpload, rejection: Rejection, keep: bool) -> EcgAnswer:
        entry = None
        if keep:
            entry = Quarantine(self.services).keep(
                InputKind.ECG,
                sender=self.sender.reference,
                organization_id=self.sender.organization_id,
                channel=self.channel,
                rejection=rejection,
                files=upload.files,
                parameters=upload.parameters(),
            )
        return EcgAnswer(None, [], rejection, entry)


def replay_ecg(services: Services, entry: QuarantineEntry, sender: Principal) -> list[str] | Rejection:
    parameters = entry.parameters
    rate = parameters.get("sampling_rate")
    upload = EcgUpload(
        files=entry.files,
        patient=str(parameters.get("patient") or ""),
        device=parameters.get("device"),
        sampling_rate=float(rate) if isinstance(rate, int | float) else None,
    )
    answer = EcgIngestion(services, sender, channel="replay", client_address=None).receive(
        upload, keep=False, patient_id=entry.row.patient_id
    )
    return answer.rejection if answer.rejection is not None else answer.created
