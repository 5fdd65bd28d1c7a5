"""Forms v1: create/batchUpdate/get/setPublishSettings, responses with email-collection rules and timestamp filters."""

from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from emulator.clock import parse_rfc3339, rfc3339
from emulator.core import Call, Context, decode_token, encode_token
from emulator.errors import ApiError, bad_request, failed_precondition

if TYPE_CHECKING:
    from emulator.drive import Drive

GOOGLE_FORM_MIME = "application/vnd.google-apps.form"
_FILTER = re.compile(r"^\s*timestamp\s*(>=|>)\s*(\S+)\s*$")
_QUESTION_KINDS = (
    "textQuestion",
    "choiceQuestion",
    "scaleQuestion",
    "dateQuestion",
    "timeQuestion",
    "fileUploadQuestion",
    "rowQuestion",
    "ratingQuestion",
)


def hex_id() -> str:
    """Item and question ids look like Google's: 8 hex characters."""
    return secrets.token_hex(4)


def prefill_entry(question_id: str) -> str:
    """Pre-filled link parameter for a question: ``entry.<questionId read as hex>``."""
    return f"entry.{int(question_id, 16)}"


def prefilled_answers(url: str | None) -> dict[str, list[str]]:
    """``entry.N`` values of a pre-filled link (a respondent may still change them; explicit answers win)."""
    if not url:
        return {}
    query = parse_qs(url.split("?", 1)[1] if "?" in url else "", keep_blank_values=True)
    return {k: v for k, v in query.items() if k.startswith("entry.")}


@dataclass
class StoredForm:
    form: dict[str, Any]
    owner: str
    responses: list[dict[str, Any]] = field(default_factory=list)
    revision: int = 1

    @property
    def id(self) -> str:
        return self.form["formId"]

    def questions(self) -> dict[str, dict[str, Any]]:
        out = {}
        for item in self.form.get("items", []):
            qi = item.get("questionItem")
            if qi:
                out[qi["question"]["questionId"]] = qi["question"]
            for q in (item.get("questionGroupItem") or {}).get("questions", []):
                out[q["questionId"]] = q
        return out


class Forms:
    """Forms are Drive files (``drive``): editing and reading responses need the file, answering needs a responder
    permission (Drive's ``published`` view) or edit access."""

    def __init__(
        self,
        ctx: Context,
        directory_user: Callable[[str], dict[str, Any] | None],
        drive: Drive | None = None,
    ) -> None:
        self.ctx = ctx
        self.directory_user = directory_user
        self.drive = drive
        self.directory_domains: Callable[[], set[str]] | None = None
        self.reset()

    def reset(self) -> None:
        self.forms: dict[str, StoredForm] = {}

    def handlers(self) -> dict[str, Callable[[Call], Any]]:
        return {
            "forms.forms.create": self.create,
            "forms.forms.get": self.get,
            "forms.forms.batchUpdate": self.batch_update,
            "forms.forms.setPublishSettings": self.set_publish_settings,
            "forms.forms.responses.list": self.responses_list,
            "forms.forms.responses.get": self.responses_get,
        }

    def _stored(self, form_id: str) -> StoredForm:
        form = self.forms.get(form_id)
        if form is None or (self.drive is not None and form_id not in self.drive.files):
            raise ApiError(404, "Requested entity was not found.", "notFound")
        return form

    def _form(self, call: Call, *, write: bool = False) -> StoredForm:
        stored = self._stored(call.path["formId"])
        if self.drive is not None:
            from emulator.drive import _RANK, FORMS_WIDE

            f = self.drive.files[stored.id]
            role = self.drive.role(f, call.subject)
            if not self.drive.reaches(f, call.token, FORMS_WIDE) or role is None:
                raise ApiError(403, "The caller does not have permission", "forbidden", status="PERMISSION_DENIED")
            if write and _RANK[role] < _RANK["writer"]:
                raise ApiError(403, "The caller does not have permission", "forbidden", status="PERMISSION_DENIED")
        return stored

    def _bump(self, stored: StoredForm) -> None:
        stored.revision += 1
        stored.form["revisionId"] = f"{stored.revision:08x}"

    def create(self, call: Call) -> dict[str, Any]:
        body = call.body or {}
        info = body.get("info") or {}
        extra = [k for k in body if k != "info"] + [f"info.{k}" for k in info if k not in ("title", "documentTitle")]
        if extra:
            raise bad_request(
                "Only info.title and info.documentTitle can be set when creating a form. To add items and change "
                "settings, use batchUpdate.",
                reason="badRequest",
            )
        if not info.get("title"):
            raise bad_request("Title is required", reason="required")
        form_id = "1" + secrets.token_urlsafe(32).replace("-", "x").replace("_", "y")[:43]
        responder = f"https://docs.google.com/forms/d/e/1FAIpQLS{secrets.token_urlsafe(40)[:48]}/viewform"
        # Forms made through the API now start unpublished (Google's 2026 change the project plans for), although
        # the discovery text still describes the older default; an explicit unpublished=false publishes at once.
        published = call.query.get("unpublished") is False
        form = {
            "formId": form_id,
            "info": {"title": info["title"], "documentTitle": info.get("documentTitle", info["title"])},
            "settings": {"emailCollectionType": "DO_NOT_COLLECT"},
            "revisionId": "00000001",
            "responderUri": responder,
            "publishSettings": {"publishState": {"isPublished": published, "isAcceptingResponses": published}},
        }
        self.forms[form_id] = StoredForm(form=form, owner=call.subject)
        if self.drive is not None:
            # a form is a Drive file owned by the creator, reachable by the creating app under drive.file
            self.drive.add(
                call.subject,
                {"id": form_id, "name": info.get("documentTitle", info["title"]), "mimeType": GOOGLE_FORM_MIME},
                None,
                None,
                call.now,
                app=call.token.client_email,
            )
        return copy.deepcopy(form)

    def get(self, call: Call) -> dict[str, Any]:
        return copy.deepcopy(self._form(call).form)

    def batch_update(self, call: Call) -> dict[str, Any]:
        stored = self._form(call, write=True)
        body = call.body or {}
        required = (body.get("writeControl") or {}).get("requiredRevisionId")
        if required and required != stored.form["revisionId"]:
            raise ApiError(
                400,
                "The revision ID provided does not match the form's latest revision.",
                "failedPrecondition",
                status="FAILED_PRECONDITION",
            )
        work = copy.deepcopy(stored.form)
        replies = []
        for index, request in enumerate(body.get("requests") or []):
            if len(request) != 1:
                raise bad_request(f"requests[{index}]: exactly one request kind must be set")
            kind, payload = next(iter(request.items()))
            replies.append(self._apply(work, kind, payload or {}, index))
        stored.form = work
        self._bump(stored)
        out: dict[str, Any] = {"replies": replies, "writeControl": {"requiredRevisionId": work["revisionId"]}}
        if body.get("includeFormInResponse"):
            out["form"] = copy.deepcopy(work)
        return out

    def _apply(self, form: dict[str, Any], kind: str, payload: dict[str, Any], index: int) -> dict[str, Any]:
        items = form.setdefault("items", [])
        if kind == "createItem":
            item = copy.deepcopy(payload.get("item") or {})
            location = payload.get("location")
            if location is None or "index" not in location:
                raise bad_request(f"requests[{index}].create_item.location: location is required", reason="required")
            position = int(location["index"])
            if position < 0 or position > len(items):
                raise bad_request(
                    f"Invalid requests[{index}].createItem: index {position} must be less than or equal to the "
                    f"number of items ({len(items)})"
                )
            item["itemId"] = item.get("itemId") or hex_id()
            question_ids: list[str] = []
            qi = item.get("questionItem")
            if qi is not None:
                question = qi.setdefault("question", {})
                kinds = [k for k in _QUESTION_KINDS if k in question]
                if len(kinds) != 1:
                    raise bad_request(
                        f"requests[{index}].create_item.item.question_item.question: exactly one "
                        "question kind must be set"
                    )
                if kinds[0] == "fileUploadQuestion":
                    # FileUploadQuestion reference: "The API currently does not support creating file upload
                    # questions." A form made through the API can never take an uploaded file.
                    raise bad_request(
                        f"requests[{index}].create_item.item.question_item.question.file_upload_question: "
                        "creating file upload questions is not supported"
                    )
                if kinds[0] == "choiceQuestion":
                    choice = question["choiceQuestion"]
                    if not choice.get("type") or not choice.get("options"):
                        raise bad_request(f"requests[{index}].create_item: choice question needs type and options")
                question["questionId"] = question.get("questionId") or hex_id()
                question_ids.append(question["questionId"])
            for q in (item.get("questionGroupItem") or {}).get("questions", []):
                q["questionId"] = q.get("questionId") or hex_id()
                question_ids.append(q["questionId"])
            items.insert(position, item)
            reply: dict[str, Any] = {"itemId": item["itemId"]}
            if question_ids:
                reply["questionId"] = question_ids
            return {"createItem": reply}
        if kind == "updateSettings":
            mask = payload.get("updateMask")
            if not mask:
                raise bad_request(
                    f"requests[{index}].update_settings.update_mask: update_mask is required",
                    reason="required",
                )
            settings = payload.get("settings") or {}
            target = form.setdefault("settings", {})
            for path in mask.split(","):
                path = path.strip()
                if path == "*":
                    target.clear()
                    target.update(settings)
                    continue
                head, _, rest = path.partition(".")
                if rest:
                    target.setdefault(head, {})[rest] = (settings.get(head) or {}).get(rest)
                elif head in settings:
                    target[head] = settings[head]
                else:
                    target.pop(head, None)
            return {}
        if kind == "updateFormInfo":
            mask = payload.get("updateMask")
            if not mask:
                raise bad_request(
                    f"requests[{index}].update_form_info.update_mask: update_mask is required",
                    reason="required",
                )
            info = payload.get("info") or {}
            for path in mask.split(","):
                path = path.strip()
                if path == "documentTitle":
                    raise bad_request("document_title cannot be updated through batchUpdate")
                keys = ("title", "description") if path == "*" else (path,)
                for key in keys:
                    if key in info:
                        form["info"][key] = info[key]
            return {}
        if kind == "deleteItem":
            position = int((payload.get("location") or {}).get("index", -1))
            if not 0 <= position < len(items):
                raise bad_request(f"requests[{index}].delete_item: index out of range")
            items.pop(position)
            return {}
        if kind == "updateItem":
            position = int((payload.get("location") or {}).get("index", -1))
            if not 0 <= position < len(items):
                raise bad_request(f"requests[{index}].update_item: index out of range")
            new = copy.deepcopy(payload.get("item") or {})
            old = items[position]
            new["itemId"] = old["itemId"]
            if "questionItem" in new and "questionItem" in old:
                new["questionItem"].setdefault("question", {})["questionId"] = old["questionItem"]["question"][
                    "questionId"
                ]
            items[position] = new
            return {}
        raise ApiError(
            501,
            f"batchUpdate request kind {kind} is not implemented by the Workspace emulator.",
            "notImplemented",
        )

    def set_publish_settings(self, call: Call) -> dict[str, Any]:
        stored = self._form(call, write=True)
        state = ((call.body or {}).get("publishSettings") or {}).get("publishState")
        if state is None or "isPublished" not in state or "isAcceptingResponses" not in state:
            raise bad_request("publish_state requires both is_published and is_accepting_responses", reason="required")
        if state["isAcceptingResponses"] and not state["isPublished"]:
            raise bad_request("A form cannot accept responses while unpublished.")
        stored.form["publishSettings"] = {
            "publishState": {
                "isPublished": bool(state["isPublished"]),
                "isAcceptingResponses": bool(state["isAcceptingResponses"]),
            }
        }
        self._bump(stored)
        return {"formId": stored.id, "publishSettings": copy.deepcopy(stored.form["publishSettings"])}

    def responses_list(self, call: Call) -> dict[str, Any]:
        stored = self._form(call, write=True)
        responses = stored.responses
        flt = call.query.get("filter")
        if flt:
            m = _FILTER.match(flt)
            if m is None:
                raise bad_request(f"Invalid filter: {flt}")
            try:
                edge = parse_rfc3339(m.group(2))
            except ValueError:
                raise bad_request(f"Invalid filter: {flt}") from None
            inclusive = m.group(1) == ">="
            responses = [r for r in responses if (r["_ts"] >= edge if inclusive else r["_ts"] > edge)]
        size = call.query.get("pageSize") or self.ctx.limits.forms_max_page_size
        size = min(size, self.ctx.limits.forms_max_page_size)
        start = 0
        if call.query.get("pageToken"):
            data = decode_token(call.query["pageToken"])
            if data.get("f") != (flt or ""):
                raise bad_request("The page token does not match the request filter.")
            start = int(data.get("o", 0))
        page = responses[start : start + size]
        out: dict[str, Any] = {}
        if page:
            out["responses"] = [_public(r) for r in page]
        if start + size < len(responses):
            out["nextPageToken"] = encode_token({"o": start + size, "f": flt or ""})
        return out

    def responses_get(self, call: Call) -> dict[str, Any]:
        stored = self._form(call, write=True)
        for r in stored.responses:
            if r["responseId"] == call.path["responseId"]:
                return _public(r)
        raise ApiError(404, "Requested entity was not found.", "notFound")

    # -- admin: a person submits the form -----------------------------------------------------------------

    def by_link(self, url: str) -> str:
        """The formId behind a responder link (``…/forms/d/e/<id>/viewform?…``), or 404."""
        base = url.split("?", 1)[0]
        for form_id, stored in self.forms.items():
            if stored.form["responderUri"] == base:
                return form_id
        raise ApiError(404, "No form has this responder link.", "notFound")

    def _signed_in_account(self, email: str | None) -> str | None:
        """The Google account a signed-in respondent uses: a Directory domain's address must be an active user
        of that Directory; any other address is taken as the person's own Google account."""
        if not email:
            return None
        user = self.directory_user(email)
        if user is not None:
            return None if user.get("suspended") else str(user["primaryEmail"]).lower()
        if self.directory_domains and _domain(email) in self.directory_domains():
            return None  # no such account in the organisation: the sign-in fails
        return email

    def _check_responder(self, stored: StoredForm, account: str | None) -> None:
        """Who may answer is who holds a responder permission (Drive ``view: published``) or edit access.

        Forms "Publish and manage responders": responders are Drive permissions in the published view; an
        ``anyone`` responder lets people answer without signing in, a ``domain`` one only the signed-in users of
        that domain. A form published with no responder permission is answerable by its editors only.
        """
        if self.drive is None:
            return
        f = self.drive.files[stored.id]
        if self.drive.role(f, "anonymous@invalid", published=True) is not None:
            return  # anyone with the link
        if account is not None and (
            self.drive.role(f, account, published=True) is not None or self.drive.role(f, account) is not None
        ):
            return
        raise ApiError(
            403,
            "You need permission: this form only accepts responses from people it has been shared with.",
            "forbidden",
            status="PERMISSION_DENIED",
        )

    def submit(self, form_id: str, payload: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Store a response the way Google Forms would accept it, or raise ApiError explaining the refusal."""
        stored = self._stored(form_id)
        state = stored.form["publishSettings"]["publishState"]
        if not state["isPublished"] or not state["isAcceptingResponses"]:
            raise failed_precondition("This form is not accepting responses.")
        collection = stored.form.get("settings", {}).get("emailCollectionType", "DO_NOT_COLLECT")
        email = (payload.get("respondent_email") or "").strip().lower() or None
        account = self._signed_in_account(email) if payload.get("signed_in") else None
        self._check_responder(stored, account)
        if collection == "VERIFIED":
            # VERIFIED collects the address of the signed-in Google account (any Google account, not only the
            # organisation's: Forms API Settings reference); people who cannot sign in cannot answer.
            if account is None:
                raise ApiError(
                    401,
                    "Sign in to continue: this form collects the respondent's verified Google account email.",
                    "required",
                    status="UNAUTHENTICATED",
                )
        elif collection == "RESPONDER_INPUT" and (not email or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email)):
            raise bad_request("A valid email address is required to submit this form.", reason="required")
        questions = stored.questions()
        answers_in = {**prefilled_answers(payload.get("prefilled_url")), **(payload.get("answers") or {})}
        by_entry = {prefill_entry(qid): qid for qid in questions}
        answers: dict[str, Any] = {}
        for key, value in answers_in.items():
            qid = by_entry.get(key, key)
            question = questions.get(qid)
            if question is None:
                raise bad_request(f"Unknown question {key}")
            values = value if isinstance(value, list) else [value]
            values = [str(v) for v in values if str(v) != ""]
            choice = question.get("choiceQuestion")
            if choice and values:
                options = {o.get("value") for o in choice.get("options", [])}
                other = any(o.get("isOther") for o in choice.get("options", []))
                bad = [v for v in values if v not in options]
                if bad and not other:
                    raise bad_request(f"Answer {bad[0]!r} is not an option of question {qid}")
                if choice.get("type") in ("RADIO", "DROP_DOWN") and len(values) > 1:
                    # radio buttons and drop-downs hold one choice; only checkboxes take several
                    raise bad_request(f"Question {qid} takes one answer, got {len(values)}")
            if values:
                answers[qid] = {"questionId": qid, "textAnswers": {"answers": [{"value": v} for v in values]}}
        missing = [qid for qid, q in questions.items() if q.get("required") and qid not in answers]
        if missing:
            raise bad_request(f"Required question(s) not answered: {', '.join(missing)}", reason="required")
        when = parse_rfc3339(payload["timestamp"]) if payload.get("timestamp") else now
        response: dict[str, Any] = {
            "formId": stored.id,
            "responseId": "ACYDBN" + secrets.token_urlsafe(48)[:58],
            "createTime": rfc3339(when),
            "lastSubmittedTime": rfc3339(when),
            "answers": answers,
            "_ts": when,
        }
        if collection == "VERIFIED" and account:
            response["respondentEmail"] = account
        elif collection == "RESPONDER_INPUT" and email:
            response["respondentEmail"] = email
        stored.responses.append(response)
        stored.responses.sort(key=lambda r: r["_ts"])
        return _public(response)


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _public(response: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in response.items() if not k.startswith("_")}
