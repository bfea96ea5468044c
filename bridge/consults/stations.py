"""Bedside stations: where each stands, whether a nurse armed it to answer ward rounds by itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fhir_adapter.errors import OperationOutcomeError
from sqlalchemy import select

from bridge.clock import as_utc
from bridge.consults.caller import Caller
from bridge.consults.events import Outcome, home_topic, station_topic
from bridge.consults.records import ConsultError
from bridge.db.tables import BedsideStation
from bridge.services import Services

# Location.physicalType codes (http://terminology.hl7.org/CodeSystem/location-physical-type)
ROOM, BED = "ro", "bd"
PHYSICAL_TYPE_NAMES = {ROOM: "room", BED: "bed"}


def station_view(station: BedsideStation, now_armed: bool) -> dict[str, Any]:
    return {
        "station_id": station.client_id,
        "room": station.room_id,
        "bed": station.bed_id,
        "armed": now_armed,
        "auto_answer": station.auto_answer,
    }


class StationRegistry:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.db = services.db

    def is_armed(self, station: BedsideStation) -> bool:
        if station.armed_until is None:
            return False
        return as_utc(station.armed_until) > as_utc(self.services.now())

    def for_home(self, home_id: str) -> list[BedsideStation]:
        query = select(BedsideStation).where(BedsideStation.home_id == home_id).order_by(BedsideStation.client_id)
        return list(self.db.scalars(query))

    def get(self, station_id: str) -> BedsideStation | None:
        return self.db.get(BedsideStation, station_id)

    def register(self, caller: Caller, room: str, bed: str, auto_answer: bool) -> Outcome:
        """A station says where it stands; the room and bed must be Locations of its own home."""
        if not caller.is_station:
            raise ConsultError("forbidden", "only a bedside station registers")
        self._require_location_of(caller.organization_id, room, ROOM)
        self._require_location_of(caller.organization_id, bed, BED)
        station_id = caller.reference.removeprefix("client:")
        station = self.db.get(BedsideStation, station_id)
        if station is None:
            station = BedsideStation(client_id=station_id, home_id=caller.organization_id)
            self.db.add(station)
        station.home_id = caller.organization_id
        station.room_id, station.bed_id, station.auto_answer = room, bed, auto_answer
        station.last_seen_at = self.services.now()
        self.db.flush()
        return self._registered(station)

    def arm(self, caller: Caller, station_id: str, armed: bool) -> Outcome:
        """A nurse of the station's home lets it answer ward-round calls by itself, for a while."""
        station = self.db.get(BedsideStation, station_id) if isinstance(station_id, str) else None
        if station is None or station.home_id != caller.organization_id:
            raise ConsultError("not_found", "no such bedside station in your home")
        if not caller.is_nurse:
            raise ConsultError("forbidden", "only a nurse of the station's home arms it")
        if armed:
            station.armed_by = caller.reference
            station.armed_until = self.services.now() + timedelta(minutes=self.services.settings.station_arm_minutes)
        else:
            station.armed_by = None
            station.armed_until = None
        self.db.flush()
        return self._registered(station)

    def _registered(self, station: BedsideStation) -> Outcome:
        message = {"v": 1, "type": "station.registered", **station_view(station, self.is_armed(station))}
        outcome = Outcome(reply=message)
        # The station and the home's nurses' pages learn of the change wherever they are connected.
        outcome.tell(station_topic(station.client_id), message)
        outcome.tell(home_topic(station.home_id), message)
        return outcome

    def _require_location_of(self, home_id: str, location_id: str, kind: str) -> None:
        try:
            location = self.services.repository.read("Location", location_id) if isinstance(location_id, str) else {}
        except OperationOutcomeError:
            location = {}
        managing = str((location.get("managingOrganization") or {}).get("reference", ""))
        kinds = {c.get("code") for c in (location.get("physicalType") or {}).get("coding", [])}
        if managing != f"Organization/{home_id}" or kind not in kinds:
            raise ConsultError("not_found", f"{location_id!r} is not a {PHYSICAL_TYPE_NAMES[kind]} of your home")
