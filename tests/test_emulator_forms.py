"""Forms through the real client: create, items, publish, email collection rules, responses with filters."""

from __future__ import annotations

import json
import re

import pytest
from emulator_fixtures import google_service
from googleapiclient.errors import HttpError

from emulator import WorkspaceEmulator
from emulator.admin import EmulatorAdminError

OWNER = "hr@standard-sd.org"
EMPLOYEE = "teacher1@standard-sd.org"


def _acknowledgement_form(forms, collection: str) -> tuple[str, str, str]:
    form = (
        forms.forms()
        .create(body={"info": {"title": "AR 1114 acknowledgement", "documentTitle": "AR1114 ack 2026"}})
        .execute()
    )
    assert form["publishSettings"]["publishState"] == {"isPublished": False, "isAcceptingResponses": False}
    assert form["settings"]["emailCollectionType"] == "DO_NOT_COLLECT"
    assert re.fullmatch(r"https://docs\.google\.com/forms/d/e/[\w-]+/viewform", form["responderUri"])
    reply = (
        forms.forms()
        .batchUpdate(
            formId=form["formId"],
            body={
                "requests": [
                    {
                        "createItem": {
                            "item": {
                                "title": "Full name",
                                "questionItem": {"question": {"required": True, "textQuestion": {"paragraph": False}}},
                            },
                            "location": {"index": 0},
                        }
                    },
                    {
                        "createItem": {
                            "item": {
                                "title": "I have read AR 1114",
                                "questionItem": {
                                    "question": {
                                        "required": True,
                                        "choiceQuestion": {"type": "RADIO", "options": [{"value": "I agree"}]},
                                    }
                                },
                            },
                            "location": {"index": 1},
                        }
                    },
                    {
                        "updateSettings": {
                            "settings": {"emailCollectionType": collection},
                            "updateMask": "emailCollectionType",
                        }
                    },
                ]
            },
        )
        .execute()
    )
    name_reply, agree_reply, settings_reply = reply["replies"]
    assert settings_reply == {}
    for r in (name_reply, agree_reply):
        assert re.fullmatch(r"[0-9a-f]{8}", r["createItem"]["itemId"])
        assert len(r["createItem"]["questionId"]) == 1
        assert re.fullmatch(r"[0-9a-f]{8}", r["createItem"]["questionId"][0])
    return form["formId"], name_reply["createItem"]["questionId"][0], agree_reply["createItem"]["questionId"][0]


def _responders(emulator: WorkspaceEmulator, form_id: str, **grantee: str) -> None:
    """Who may answer: a Drive permission in the ``published`` view (Forms "Publish and manage responders")."""
    drive = google_service(emulator, "drive", subject=OWNER)
    body = {"role": "reader", "view": "published", **grantee}
    drive.permissions().create(fileId=form_id, body=body).execute()


def _publish(forms, form_id: str, emulator: WorkspaceEmulator | None = None) -> None:
    if emulator is not None:
        _responders(emulator, form_id, type="anyone")
    result = (
        forms.forms()
        .setPublishSettings(
            formId=form_id,
            body={"publishSettings": {"publishState": {"isPublished": True, "isAcceptingResponses": True}}},
        )
        .execute()
    )
    assert result["publishSettings"]["publishState"]["isAcceptingResponses"] is True


def test_create_refuses_items_like_google(emulator: WorkspaceEmulator) -> None:
    forms = google_service(emulator, "forms", subject=OWNER)
    with pytest.raises(HttpError) as caught:
        forms.forms().create(body={"info": {"title": "x"}, "items": [{"title": "q"}]}).execute()
    assert caught.value.resp.status == 400
    assert "Only info.title" in json.loads(caught.value.content)["error"]["message"]


def test_verified_means_a_signed_in_google_account_and_responders_decide_who(emulator: WorkspaceEmulator) -> None:
    emulator.admin.seed(
        directory={
            "users": [
                {"primaryEmail": EMPLOYEE, "name": {"givenName": "T", "familyName": "One"}},
                {"primaryEmail": "left@standard-sd.org", "suspended": True},
            ]
        }
    )
    forms = google_service(emulator, "forms", subject=OWNER)
    form_id, name_q, agree_q = _acknowledgement_form(forms, "VERIFIED")
    answers = {name_q: "Terry One", agree_q: "I agree"}
    with pytest.raises(EmulatorAdminError) as refused:
        emulator.admin.submit_form_response(form_id, answers, EMPLOYEE, signed_in=True)
    assert refused.value.status == 400  # unpublished forms take no answers
    _publish(forms, form_id)
    form = forms.forms().get(formId=form_id).execute()
    assert form["settings"]["emailCollectionType"] == "VERIFIED"
    assert [i["title"] for i in form["items"]] == ["Full name", "I have read AR 1114"]

    # Published with no responder permission: nobody but the form's editors may answer.
    with pytest.raises(EmulatorAdminError) as refused:
        emulator.admin.submit_form_response(form_id, answers, EMPLOYEE, signed_in=True)
    assert refused.value.status == 403

    # Responders = signed-in users of the domain: outsiders and suspended users are refused.
    _responders(emulator, form_id, type="domain", domain="standard-sd.org")
    for email, signed_in, status in [
        ("volunteer@gmail.com", False, 403),
        ("volunteer@gmail.com", True, 403),
        (EMPLOYEE, False, 403),
        ("left@standard-sd.org", True, 403),
    ]:
        with pytest.raises(EmulatorAdminError) as refused:
            emulator.admin.submit_form_response(form_id, answers, email, signed_in=signed_in)
        assert refused.value.status == status, email
    stored = emulator.admin.submit_form_response(form_id, answers, EMPLOYEE, signed_in=True)
    assert stored["respondentEmail"] == EMPLOYEE
    assert stored["answers"][name_q] == {"questionId": name_q, "textAnswers": {"answers": [{"value": "Terry One"}]}}
    with pytest.raises(EmulatorAdminError):
        emulator.admin.submit_form_response(form_id, {name_q: "T", agree_q: "No way"}, EMPLOYEE, signed_in=True)
    with pytest.raises(EmulatorAdminError):
        emulator.admin.submit_form_response(form_id, {agree_q: "I agree"}, EMPLOYEE, signed_in=True)

    # VERIFIED is any signed-in Google account, not only the organisation's (Forms API Settings reference):
    # with anyone as responder a personal Google account answers; someone not signed in cannot.
    _responders(emulator, form_id, type="anyone")
    outside = emulator.admin.submit_form_response(form_id, answers, "volunteer@gmail.com", signed_in=True)
    assert outside["respondentEmail"] == "volunteer@gmail.com"
    with pytest.raises(EmulatorAdminError) as refused:
        emulator.admin.submit_form_response(form_id, answers, "volunteer@gmail.com", signed_in=False)
    assert refused.value.status == 401


def test_responder_permissions_only_in_the_published_view_of_a_form(emulator: WorkspaceEmulator) -> None:
    forms = google_service(emulator, "forms", subject=OWNER)
    form_id, _, _ = _acknowledgement_form(forms, "RESPONDER_INPUT")
    drive = google_service(emulator, "drive", subject=OWNER)
    doc = drive.files().create(body={"name": "notes", "mimeType": "application/vnd.google-apps.document"}).execute()
    with pytest.raises(HttpError) as caught:
        drive.permissions().create(
            fileId=doc["id"], body={"type": "anyone", "role": "reader", "view": "published"}
        ).execute()
    assert caught.value.resp.status == 400
    _responders(emulator, form_id, type="anyone")
    perms = drive.permissions().list(fileId=form_id, fields="permissions(type,role,view)").execute()["permissions"]
    assert {"type": "anyone", "role": "reader", "view": "published"} in perms
    # a responder permission gives no access to the form itself (editing, responses)
    other = google_service(emulator, "forms", subject=EMPLOYEE)
    with pytest.raises(HttpError) as caught:
        other.forms().get(formId=form_id).execute()
    assert caught.value.resp.status == 403


def test_responder_input_accepts_anyone_and_responses_page_with_timestamp_filter(
    emulator: WorkspaceEmulator,
) -> None:
    forms = google_service(emulator, "forms", subject=OWNER)
    form_id, name_q, agree_q = _acknowledgement_form(forms, "RESPONDER_INPUT")
    _publish(forms, form_id, emulator)
    prefill = emulator.admin.form(form_id)["prefill"]
    assert prefill[name_q] == f"entry.{int(name_q, 16)}"
    stamps = [
        "2025-12-31T23:00:00Z",
        "2026-01-01T00:00:00Z",
        "2026-01-02T08:00:00Z",
        "2026-01-03T09:00:00Z",
        "2026-01-04T10:00:00Z",
    ]
    for i, stamp in enumerate(stamps):
        # the pre-filled link convention works as an answer key too
        emulator.admin.submit_form_response(
            form_id,
            {prefill[name_q]: f"Coach {i}", agree_q: "I agree"},
            f"coach{i}@gmail.com",
            signed_in=False,
            timestamp=stamp,
        )
    with pytest.raises(EmulatorAdminError):
        emulator.admin.submit_form_response(form_id, {name_q: "No email", agree_q: "I agree"}, None)

    listed = forms.forms().responses().list(formId=form_id).execute()
    everything = listed["responses"]
    assert len(everything) == 5 and "nextPageToken" not in listed
    assert everything[0]["respondentEmail"] == "coach0@gmail.com"
    assert {"responseId", "createTime", "lastSubmittedTime", "answers"} <= set(everything[0])

    after = forms.forms().responses().list(formId=form_id, filter="timestamp > 2026-01-01T00:00:00Z").execute()
    assert [r["respondentEmail"] for r in after["responses"]] == [
        "coach2@gmail.com",
        "coach3@gmail.com",
        "coach4@gmail.com",
    ]
    request = forms.forms().responses().list(formId=form_id, filter="timestamp >= 2026-01-01T00:00:00Z", pageSize=2)
    pages = []
    while request is not None:
        page = request.execute()
        pages.append([r["answers"][name_q]["textAnswers"]["answers"][0]["value"] for r in page["responses"]])
        request = forms.forms().responses().list_next(request, page)
    assert pages == [["Coach 1", "Coach 2"], ["Coach 3", "Coach 4"]]
    one = forms.forms().responses().get(formId=form_id, responseId=everything[2]["responseId"]).execute()
    assert one == everything[2]
    with pytest.raises(HttpError) as caught:
        forms.forms().responses().list(formId=form_id, filter="timestamp since yesterday").execute()
    assert caught.value.resp.status == 400

    # a pre-filled link from an email identifies the form; the respondent may still edit the values
    responder = forms.forms().get(formId=form_id).execute()["responderUri"]
    link = f"{responder}?usp=pp_url&{prefill[name_q]}=Walk-on+Coach&{prefill[agree_q]}=I+agree"
    stored = emulator.admin.submit_form_response(
        None, {name_q: "Walk-on Coach (edited)"}, "coach9@gmail.com", prefilled_url=link
    )
    assert stored["formId"] == form_id
    assert stored["answers"][name_q]["textAnswers"]["answers"] == [{"value": "Walk-on Coach (edited)"}]
    assert stored["answers"][agree_q]["textAnswers"]["answers"] == [{"value": "I agree"}]


def test_do_not_collect_keeps_no_email_and_expensive_reads_are_limited(emulator: WorkspaceEmulator) -> None:
    forms = google_service(emulator, "forms", subject=OWNER)
    form_id, name_q, agree_q = _acknowledgement_form(forms, "DO_NOT_COLLECT")
    _publish(forms, form_id, emulator)
    stored = emulator.admin.submit_form_response(form_id, {name_q: "Anon", agree_q: "I agree"}, "x@example.org")
    assert "respondentEmail" not in stored
    emulator.admin.set_limits(forms_expensive_reads_per_minute=2)
    for _ in range(2):
        forms.forms().responses().list(formId=form_id).execute()
    with pytest.raises(HttpError) as caught:
        forms.forms().responses().list(formId=form_id).execute()
    assert caught.value.resp.status == 429
    assert json.loads(caught.value.content)["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_create_with_unpublished_false_accepts_responses_at_once(emulator: WorkspaceEmulator) -> None:
    forms = google_service(emulator, "forms", subject=OWNER)
    form = forms.forms().create(body={"info": {"title": "Open"}}, unpublished=False).execute()
    assert form["publishSettings"]["publishState"] == {"isPublished": True, "isAcceptingResponses": True}
    closed = forms.forms().create(body={"info": {"title": "Closed"}}, unpublished=True).execute()
    assert closed["publishSettings"]["publishState"]["isAcceptingResponses"] is False


def test_file_upload_questions_cannot_be_created_through_the_api(emulator: WorkspaceEmulator) -> None:
    # Forms API FileUploadQuestion: "The API currently does not support creating file upload questions."
    forms = google_service(emulator, "forms", subject=OWNER)
    form_id = forms.forms().create(body={"info": {"title": "uploads"}}).execute()["formId"]
    item = {"title": "Photo", "questionItem": {"question": {"fileUploadQuestion": {"folderId": "f", "maxFiles": 1}}}}
    with pytest.raises(HttpError) as caught:
        forms.forms().batchUpdate(
            formId=form_id, body={"requests": [{"createItem": {"item": item, "location": {"index": 0}}}]}
        ).execute()
    assert caught.value.resp.status == 400
    assert "file upload" in json.loads(caught.value.content)["error"]["message"]
    assert not forms.forms().get(formId=form_id).execute().get("items")


def test_radio_questions_take_one_answer(emulator: WorkspaceEmulator) -> None:
    forms = google_service(emulator, "forms", subject=OWNER)
    form_id, name_q, agree_q = _acknowledgement_form(forms, "DO_NOT_COLLECT")
    _publish(forms, form_id, emulator)
    with pytest.raises(EmulatorAdminError) as caught:
        emulator.admin.submit_form_response(form_id, {name_q: "A", agree_q: ["I agree", "I agree"]})
    assert caught.value.status == 400
    assert emulator.admin.submit_form_response(form_id, {name_q: "A", agree_q: "I agree"})["answers"]
