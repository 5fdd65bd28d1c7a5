"""From a delivery-ledger row to the message bytes, for every kind of email the pipeline sends.

Per-person messages (announcement, reminders) are rendered at send time from the person, the campaign and
the policy version, so the ledger holds no copies of names and links. Everything else (site digests,
escalations, takedown digests, the report) carries its render context in ``Delivery.context``, written when
the message was planned, so a resend after a crash says exactly what the first attempt said.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.greetings import reminder_stage, staff_title
from compliance.languages import LANGUAGE_ANSWERS, policy_language
from compliance.mail import (
    Attachment,
    RenderedEmail,
    compose_email,
    default_renderer,
    message_id_for,
    template_language,
)
from compliance.models import Campaign, Delivery, Person, PolicyVersion
from compliance.models import Site as SiteRow
from compliance.policy import FormQuestions
from compliance.settings import Settings
from compliance.tokens import TokenKeys, prefilled_link
from compliance.vocabulary import DeliveryKind, EmailTemplate, PersonCategory, PersonKind, is_personal, reminder_number

# What a dry run's sample shows instead of the first planned person's name and personal link: the sample goes
# into artifacts and the CLI, which carry no personal data.
MASKED_NAME = "[name]"
MASKED_LINK = "(personal link)"
POLICY_NOT_UPLOADED = "(the policy's link: the real run uploads the policy to Drive first)"


def policy_url(version: PolicyVersion, language: str = "en") -> str:
    """The policy Doc in ``language`` when the version has that translation, else the English one."""
    translated = (version.translations or {}).get(language) if language != "en" else None
    file_id = translated["drive_file_id"] if translated else version.drive_file_id
    if not file_id:
        # Only a dry run's draft version has no Drive file yet (a real run uploads before it plans): its sample
        # says where the link will be instead of showing a link that leads nowhere.
        return POLICY_NOT_UPLOADED
    return f"https://docs.google.com/document/d/{file_id}/view"


def policy_title(version: PolicyVersion, language: str = "en") -> str:
    translated = (version.translations or {}).get(language) if language != "en" else None
    return str(translated.get("title") or version.title) if translated else version.title


def _language_answer(questions: FormQuestions, language: str) -> dict[str, str]:
    # The form asks which language version was read; the invitation pre-fills the one it linked to.
    if questions.language and language in LANGUAGE_ANSWERS:
        return {questions.language: LANGUAGE_ANSWERS[language]}  # type: ignore[index]
    return {}


def staff_form_url(version: PolicyVersion, language: str = "en") -> str:
    staff = FormQuestions.from_json((version.form_questions or {})["staff"])
    answers = _language_answer(staff, language)
    return prefilled_link(staff.responder_uri, answers) if answers else staff.responder_uri


def signs_in(person: Person) -> bool:
    """Staff with a district account sign the staff form (one link for all, the account says who signed);
    everyone else gets a link carrying their personal code. The email tells them which, honestly."""
    return person.kind == PersonKind.EMPLOYEE and bool(person.has_district_account)


def form_url(person: Person, version: PolicyVersion, keys: TokenKeys, language: str = "en") -> str:
    """Staff sign in to the staff form; everyone else gets the community form with their personal code.
    ``language``: the policy text the message linked, pre-filled as the language read."""
    questions = version.form_questions or {}
    if signs_in(person):
        return staff_form_url(version, language)
    community = FormQuestions.from_json(questions["community"])
    token = keys.issue(person.person_key, version.id)
    return prefilled_link(community.responder_uri, {community.token: token, **_language_answer(community, language)})


def context_key(context: dict[str, Any]) -> str:
    """A short stable hash of a context, for idempotency keys of digests that depend on their content."""
    return hashlib.sha256(json.dumps(context, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class MessageFactory:
    """Builds the raw message for a delivery and the sender chosen for it (see ``compliance.outbox``)."""

    session: Session
    settings: Settings
    now: datetime
    attachments: dict[int, list[Attachment]] | None = None

    def __post_init__(self) -> None:
        self._people: dict[int, Person] = {}
        self._campaigns: dict[int, Campaign] = {}
        self._versions: dict[int, PolicyVersion] = {}
        self._sites = {s.id: s for s in self.session.scalars(select(SiteRow))}
        # The district's date of sending: a message after its deadline is worded as overdue.
        self._today = self.now.astimezone(self.settings.tz).date()

    def __call__(self, delivery: Delivery, sender: str) -> tuple[bytes, str]:
        template, context, language, to_name, bcc = self._inputs(delivery)
        raw = compose_email(
            template,
            context,
            language,
            sender=sender,
            to=sender if bcc else delivery.recipient,
            bcc=bcc,
            idempotency_key=delivery.idempotency_key,
            domain=self.settings.district.domain,
            date=self.now.astimezone(UTC),
            sender_name=self.settings.district.name,
            to_name=to_name,
            attachments=[*(self.attachments or {}).get(delivery.id, ()), *self._follow_up_attachments(delivery)],
        )
        return raw, message_id_for(delivery.idempotency_key, self.settings.district.domain)

    def _follow_up_attachments(self, delivery: Delivery) -> list[Attachment]:
        if delivery.kind not in (DeliveryKind.SITE_DIGEST, DeliveryKind.SUPERINTENDENT_ESCALATION):
            return []
        from compliance.packs import follow_up_attachments  # openpyxl loads only for messages that carry one

        variables = (delivery.context or {}).get("vars", {})
        return follow_up_attachments(delivery.kind, variables, self.settings.district.name)

    def add_draft(self, draft_id: int, campaign: Campaign, version: PolicyVersion | None) -> None:
        """Let :meth:`preview` render a dry run's draft campaign (and draft version), which have no rows:
        deliveries naming ``draft_id`` as their campaign read these instead of the store."""
        if version is None:
            raise ValueError("a draft campaign needs its policy version")
        self._campaigns[draft_id] = campaign
        self._versions[draft_id] = version
        campaign.policy_version_id = draft_id if version.id is None else version.id
        if version.id is not None:
            self._versions[version.id] = version

    def preview(self, delivery: Delivery) -> RenderedEmail:
        """What ``delivery`` would say, with the recipient's name and personal link masked (dry-run samples).

        Rendered from the same context as the real message, so the sample is what people would get; the
        delivery need not be in the ledger.
        """
        template, context, language, _to_name, _bcc = self._inputs(delivery, masked=True)
        return default_renderer().render(template, context, language)

    def _inputs(self, delivery: Delivery, *, masked: bool = False) -> tuple[str, dict[str, Any], str, str, list[str]]:
        """(template, context, language, To name, Bcc list) of one delivery."""
        bcc: list[str] = []
        if is_personal(delivery.kind):
            reminder = delivery.kind != DeliveryKind.ANNOUNCEMENT
            template = EmailTemplate.REMINDER if reminder else EmailTemplate.ANNOUNCEMENT
            context, language, to_name = self._person_context(delivery, masked=masked)
        elif delivery.kind == DeliveryKind.ANNOUNCEMENT_GROUP:
            template = EmailTemplate.ANNOUNCEMENT
            context, language, to_name = self._group_context(delivery)
            bcc = list(delivery.recipients)
        else:
            context = dict(delivery.context.get("vars", {}))
            language = delivery.context.get("language", "en")
            template = delivery.context.get("template", delivery.kind)
            to_name = context.get("recipient_name", "")
            for name in ("deadline", "respond_by", "first_notified_at"):
                if isinstance(context.get(name), str):
                    context[name] = date.fromisoformat(context[name])
            if isinstance(context.get("generated_at"), str):
                context["generated_at"] = datetime.fromisoformat(context["generated_at"])
        language = template_language(template, language)  # a message never fails for want of a translation
        context.setdefault("district_name", self.settings.district.name)
        context.setdefault("language", language)
        return template, context, language, to_name, bcc

    def _person_context(self, delivery: Delivery, *, masked: bool = False) -> tuple[dict[str, Any], str, str]:
        person = self._get(Person, self._people, delivery.person_id)
        campaign = self._get(Campaign, self._campaigns, delivery.campaign_id)
        version = self._get(PolicyVersion, self._versions, campaign.policy_version_id)
        site = self._sites.get(person.site_id or "")
        language = (delivery.context or {}).get("language") or campaign.language or "en"
        text = (delivery.context or {}).get("policy_language") or policy_language(version.translations, language)
        name = MASKED_NAME if masked else f"{person.given_name} {person.family_name}".strip()
        deadline = date.fromisoformat(campaign.plan["deadline"])
        context: dict[str, Any] = {
            "recipient_name": name,
            "category": person.category,
            "site_name": site.name if site else self.settings.district.name,
            "policy_title": policy_title(version, text),
            "policy_url": policy_url(version, text),
            "policy_language": text,
            "form_url": MASKED_LINK if masked else form_url(person, version, TokenKeys.of(self.settings), text),
            "deadline": deadline,
            # Staff get the staff form's one link: the announcement must not call it personal to them.
            "personal_link": not signs_in(person),
            **self._deadline_wording(delivery.kind, deadline),
        }
        return context, language, name

    def _deadline_wording(self, kind: str, deadline: date) -> dict[str, Any]:
        """Whether the message goes out after its deadline (then it asks "as soon as you can", never "by" a
        past date) and, for a reminder, its stage in the cadence: worded on the day it is sent."""
        today = self._today
        wording: dict[str, Any] = {"past_deadline": today > deadline}
        if (number := reminder_number(kind)) is not None:
            total = len(self.settings.reminders.reminder_days)
            wording.update(reminder_number=number, reminder_stage=reminder_stage(number, total, deadline, today))
        return wording

    def _group_context(self, delivery: Delivery) -> tuple[dict[str, Any], str, str]:
        """A site's staff in one Bcc message: they sign the staff form with their district account."""
        campaign = self._get(Campaign, self._campaigns, delivery.campaign_id)
        version = self._get(PolicyVersion, self._versions, campaign.policy_version_id)
        site = self._sites.get(delivery.site_id or "")
        site_name = site.name if site else self.settings.district.name
        language = (delivery.context or {}).get("language") or campaign.language or "en"
        text = (delivery.context or {}).get("policy_language") or policy_language(version.translations, language)
        written = template_language(EmailTemplate.ANNOUNCEMENT, language)
        deadline = date.fromisoformat(campaign.plan["deadline"])
        context: dict[str, Any] = {
            "recipient_name": staff_title(site_name, written),
            "category": PersonCategory.EMPLOYEE,
            "site_name": site_name,
            "policy_title": policy_title(version, text),
            "policy_url": policy_url(version, text),
            "policy_language": text,
            "form_url": staff_form_url(version, text),
            "deadline": deadline,
            "personal_link": False,  # the staff form: one link for all, signed in with the district account
            **self._deadline_wording(delivery.kind, deadline),
        }
        return context, language, context["recipient_name"]

    def _get(self, model: type, cache: dict[int, Any], key: int | None) -> Any:
        if key is None:
            raise ValueError(f"delivery needs a {model.__name__.lower()} and has none")
        if key not in cache:
            row = self.session.get(model, key)
            if row is None:
                raise ValueError(f"{model.__name__} {key} not found")
            cache[key] = row
        return cache[key]
