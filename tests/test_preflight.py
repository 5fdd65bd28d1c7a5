"""``district-compliance preflight`` against the emulator seeded with the sample district (issue 12).

It passes when the deployment is set up as the README says, and fails with the right advice when a school's
sheet is not shared with the admin subject, when a sender mailbox is refused, when domain-wide delegation
lacks a scope, and when the domain forbids sharing outside it (no public policy, no community responders).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compliance.google.clients import GoogleClients
from compliance.preflight import configured_sheets, run_preflight
from compliance.settings import get_settings
from emulator.district import ADMIN_SUBJECT, LocalDistrict


def _failed(checks):  # type: ignore[no-untyped-def]
    return [c for c in checks if not c.ok]


@pytest.fixture
def district(sample_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    with LocalDistrict(sample_dir, f"sqlite:///{tmp_path / 'store.db'}", work_dir=tmp_path) as d:
        yield d


def test_preflight_passes_on_the_sample_deployment_and_the_cli_exits_0(district: LocalDistrict) -> None:
    settings = get_settings()
    checks = run_preflight(settings, GoogleClients(settings), send_test=True)
    assert _failed(checks) == []
    names = [c.name for c in checks]
    assert sum(n.startswith("token ") for n in names) == 4 + len(settings.senders)
    assert sum(n.startswith("sheet ") for n in names) == len(configured_sheets(settings)) > 0
    assert any("test message read back" in n for n in names)
    assert any(n.startswith("policy Doc") for n in names)
    # the throwaway form and policy probe are gone afterwards
    assert district.emulator.workspace.drive.files.keys() == set(district.emulator.workspace.sheets.spreadsheets)

    from compliance.shell.cli import app

    result = CliRunner().invoke(app, ["preflight"])
    assert result.exit_code == 0, result.output
    assert "checks passed" in result.output


def test_preflight_fails_when_a_school_sheet_is_not_shared_with_the_admin_subject(
    district: LocalDistrict, sample_dir: Path
) -> None:
    settings = get_settings()
    site_id, _kind, sheet_id = configured_sheets(settings)[0]
    book = json.loads((sample_dir / "sheets" / f"{sheet_id}.json").read_text(encoding="utf-8"))
    book.pop("permissions")  # the school never shared it
    district.emulator.admin.seed(spreadsheets=[book])
    checks = run_preflight(settings, GoogleClients(settings))
    failed = _failed(checks)
    assert [c.name for c in failed] == [f"sheet {sheet_id} ({site_id} {_kind}) readable"]
    assert ADMIN_SUBJECT in failed[0].fix and "Share" in failed[0].fix and "Viewer" in failed[0].fix

    from compliance.shell.cli import app

    result = CliRunner().invoke(app, ["preflight"])
    assert result.exit_code == 1
    assert "1 of" in result.output and "checks failed" in result.output


def test_preflight_fails_when_a_sender_mailbox_is_refused(district: LocalDistrict) -> None:
    settings = get_settings()
    refused = "policy-mail-9@standard-sd.org"  # not a user of the domain: delegation to it is refused
    os.environ["DC_SENDERS"] = json.dumps([*map(str, settings.senders), refused])
    get_settings.cache_clear()
    try:
        settings = get_settings()
        checks = run_preflight(settings, GoogleClients(settings))
    finally:
        os.environ.pop("DC_SENDERS")
        get_settings.cache_clear()
    failed = {c.name: c for c in _failed(checks)}
    assert set(failed) == {f"token gmail as {refused}", f"sender {refused} usable"}
    assert "invalid_grant" in failed[f"token gmail as {refused}"].detail
    for check in failed.values():
        assert "Admin console > Directory > Users" in check.fix and refused in check.fix


def test_preflight_names_the_missing_delegated_scope_and_the_sharing_setting(district: LocalDistrict) -> None:
    settings = get_settings()
    clients = GoogleClients(settings)
    client_id = clients.service_account_info()["client_id"]
    granted = {s for api in ("directory", "drive", "sheets", "gmail") for s in clients.scopes(api)}
    district.emulator.admin.domain_policy(delegation={client_id: sorted(granted)}, external_sharing=False)
    failed = {c.name: c for c in _failed(run_preflight(settings, clients))}
    token = failed[f"token forms as {ADMIN_SUBJECT}"]
    assert "Domain Wide Delegation" in token.fix and "forms.body" in token.fix and client_id in token.fix
    sharing = [c for n, c in failed.items() if n.startswith("policy ")]
    assert sharing and "Sharing settings" in sharing[0].fix
