"""docs/SECURITY.md shows the ACL table of transport/acls.py, as the code writes it today."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings, WorkerSettings
from transport.acls import ROLES, PipelineNames, markdown_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "SECURITY.md"


def test_the_documented_acls_are_the_codes() -> None:
    text = DOC.read_text()
    documented = text.split("<!-- acls:begin -->\n", 1)[1].split("\n<!-- acls:end -->", 1)[0]
    settings = Settings(worker=WorkerSettings(processing_guarantee="exactly_once"))
    expected = markdown_table(ROLES, PipelineNames.from_settings(settings))
    assert documented == expected, (
        "regenerate: CATMATCH_WORKER__PROCESSING_GUARANTEE=exactly_once "
        "catmatch acls print --role all --format markdown"
    )
