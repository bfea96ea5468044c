"""An admin's CSV of drugs into the catalogue: all rows or none.

Every row is checked before anything is written, so a file with one bad row changes nothing and the
report names each bad row and column. Imported drugs are marked as such and the starter catalogue never
overwrites them on a later restart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bridge.i18n import Translator
from bridge.prescriptions.catalogue import write_drugs
from bridge.prescriptions.catalogue_rows import RowError, parse_catalogue_csv

if TYPE_CHECKING:
    from bridge.services import Services

logger = logging.getLogger(__name__)


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def messages(self, translator: Translator) -> list[str]:
        return [error.render(translator) for error in self.errors]

    def summary(self, translator: Translator) -> str:
        return translator(
            "drugs.import.summary", rows=self.rows, created=self.created, updated=self.updated, unchanged=self.unchanged
        )


def import_catalogue_csv(services: Services, text: str) -> ImportReport:
    parsed = parse_catalogue_csv(text, origin="import")
    report = ImportReport(rows=len(parsed.drugs), errors=parsed.errors)
    if parsed.errors:
        logger.info("drug catalogue import refused: %d row error(s)", len(parsed.errors))
        return report
    counts = write_drugs(services, parsed.drugs, keep_imported=False)
    report.created, report.updated, report.unchanged = counts.created, counts.updated, counts.unchanged
    logger.info(
        "drug catalogue import: %d created, %d updated, %d unchanged",
        *(counts.created, counts.updated, counts.unchanged),
    )
    return report
