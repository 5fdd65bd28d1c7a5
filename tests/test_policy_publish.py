"""Issue 12 item 1: everyone asked to acknowledge can open exactly the revision they acknowledge.

Through the emulator: the policy Doc and a PDF of the acknowledged revision open for someone with no Google
account (an anonymous fetch of the public link), the forms name the revision, its SHA-256 and the PDF, staff
answer signed in with a district account and community members with no account at all; a report stays closed
to anonymous readers. A ``policy_drive_file_id`` naming a Doc the app did not create is a configuration error
with the fix. Before the fix the anonymous fetch met the sign-in redirect and the bad id ended in a bare 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from compliance.google.public import fetch_anonymously, public_url
from compliance.google.workspace import get_form, list_permissions, upload_file
from compliance.models import PolicyVersion
from compliance.policy import PolicyConfigError, answer_text
from emulator.district import ADMIN_SUBJECT, LocalDistrict

NOW = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


def test_policy_and_its_pdf_open_for_anyone_and_forms_name_the_revision(sample_dir: Path, tmp_path: Path) -> None:
    from tasks import resources
    from tasks.policy import ensure_policy_version

    with LocalDistrict(sample_dir, f"sqlite:///{tmp_path / 'store.db'}", work_dir=tmp_path) as district:
        settings = resources.settings()
        clients = resources.google()
        version_id = ensure_policy_version.fn(NOW)
        assert ensure_policy_version.fn(NOW) == version_id  # a re-run reuses the version, PDF and forms
        with resources.store().session() as session:
            version = session.get(PolicyVersion, version_id)
            doc_id, pdf_id, digest = version.drive_file_id, version.pdf_file_id, version.sha256
            questions = dict(version.form_questions)
        assert pdf_id

        text = fetch_anonymously(settings, public_url(settings, doc_id, "doc_text"))
        assert text.readable and b"social media policy" in text.body
        pdf = fetch_anonymously(settings, public_url(settings, pdf_id, "file"))
        assert pdf.readable and pdf.body.startswith(b"%PDF-") and pdf.content_type == "application/pdf"
        for file_id in (doc_id, pdf_id):
            anyone = [p for p in list_permissions(clients, file_id) if p["type"] == "anyone"]
            assert [(p["role"], p.get("view")) for p in anyone] == [("reader", None)]

        # The superintendent report (personal data) stays closed to anonymous readers.
        report = upload_file(clients, "report.xlsx", "application/octet-stream", b"PK\x03\x04")
        assert not fetch_anonymously(settings, public_url(settings, report["id"], "file")).readable

        staff_form = get_form(clients, questions["staff"]["form_id"])
        assert digest in staff_form["info"]["description"]
        assert f"https://drive.google.com/file/d/{pdf_id}/view" in staff_form["info"]["description"]
        assert any(digest in (item.get("description") or "") for item in staff_form["items"])

        admin = district.emulator.admin
        staff_q, community_q = questions["staff"], questions["community"]
        agree = staff_form["items"][1]["questionItem"]["question"]["choiceQuestion"]["options"][0]["value"]
        staff_answers = {staff_q["name"]: "Staff Member", staff_q["agree"]: agree}
        employee = next(
            s.site_admin for s in settings.sites
        )  # a district account (the sample's principals are Directory users)
        stored = admin.submit_form_response(staff_q["form_id"], staff_answers, employee, signed_in=True)
        assert stored["respondentEmail"] == employee
        from emulator.admin import EmulatorAdminError

        with pytest.raises(EmulatorAdminError) as refused:  # the staff form is for the district's accounts only
            admin.submit_form_response(staff_q["form_id"], staff_answers, "someone@gmail.com", signed_in=True)
        assert refused.value.status == 403
        community_answers = {community_q["name"]: "A Volunteer", community_q["agree"]: agree, community_q["token"]: "x"}
        # a community member with no Google account, not signed in, may answer the community form
        answered = admin.submit_form_response(community_q["form_id"], community_answers, "volunteer@example.org")
        assert answer_text(answered, community_q["name"]) == "A Volunteer"


def test_policy_file_the_app_cannot_see_is_a_configuration_error_with_the_fix(
    sample_dir: Path, tmp_path: Path
) -> None:
    from tasks.policy import ensure_policy_version

    with LocalDistrict(sample_dir, f"sqlite:///{tmp_path / 'store.db'}", work_dir=tmp_path) as district:
        # the board's own Doc, owned by the admin subject but never opened with the app: drive.file cannot see it
        district.emulator.admin.seed(
            drive_files=[
                {
                    "id": "1boardPolicyDoc",
                    "name": "AR 1114",
                    "mimeType": "application/vnd.google-apps.document",
                    "owner": ADMIN_SUBJECT,
                    "content": "<p>AR 1114</p>",
                    "contentType": "text/html",
                }
            ]
        )
        import os

        from compliance.settings import get_settings
        from tasks import resources

        os.environ["DC_POLICY_DRIVE_FILE_ID"] = "1boardPolicyDoc"
        get_settings.cache_clear()
        resources.reset()
        try:
            with pytest.raises(PolicyConfigError) as caught:
                ensure_policy_version.fn(NOW)
        finally:
            os.environ.pop("DC_POLICY_DRIVE_FILE_ID")
            get_settings.cache_clear()
            resources.reset()
    message = str(caught.value)
    assert "1boardPolicyDoc" in message and "drive.file" in message and "policy_document" in message
