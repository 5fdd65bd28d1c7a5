"""Preflight: prove a deployment against Google (or the emulator) before the first campaign.

Each check is a plain function returning :class:`Check` results: what was tried, whether it worked, what came
back, and the fix (the Admin console path, the scope to add, the sheet to share). The checks make the same
calls the pipeline makes, as the same identities, so a green checklist means the first campaign's calls will
be allowed. ``run_preflight`` runs them all; the ``district-compliance preflight`` command prints the list and
exits 1 when anything failed.

What the checks rely on (Google's documentation, see README "Setting up Google Workspace"):

- domain-wide delegation: a token per (scope set, subject) is refused with ``unauthorized_client`` when the
  client id lacks a scope, and ``invalid_grant`` when the subject is not an active user;
- the Directory needs an admin subject with the Users read privilege;
- ``spreadsheets.readonly`` reads only sheets the admin subject can open: each school shares its sheets;
- Gmail sends as each sender mailbox (a licensed, active user); ``--send-test`` sends one message to itself
  and reads back the Message-ID Gmail stored;
- forms are published and their responders are Drive permissions in the ``published`` view; the domain's
  sharing settings must allow ``anyone`` responders for community members;
- the policy must open for someone with no Google account (an anonymous fetch of its public link);
- sending limits: 2,000 messages a day per user (500 on trial domains), 100 recipients a message, and 6,000
  Gmail quota units a minute per user on new Cloud projects (15,000 on older ones), 100 units per send.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from compliance.google import credentials as creds_mod
from compliance.google.clients import GoogleClients
from compliance.google.errors import GoogleApiError, InsufficientScope, NotFound, PermissionDenied
from compliance.google.public import fetch_anonymously, public_url
from compliance.google.workspace import (
    ShareRefused,
    add_form_items,
    allow_form_responders,
    create_form,
    delete_file,
    get_form,
    get_mailbox_profile,
    get_sheet_values,
    list_permissions,
    list_users,
    publish_form,
    publish_read_only_link,
    search_messages,
    send_message,
    stored_message_ids,
    text_question,
    upload_file,
)
from compliance.settings import Settings
from compliance.tabular import SHEETS_PREFIX

DELEGATION_PATH = "Admin console > Security > Access and data control > API controls > Manage Domain Wide Delegation"
SHARING_PATH = "Admin console > Apps > Google Workspace > Drive and Docs > Sharing settings"
USERS_PATH = "Admin console > Directory > Users"
ROLES_PATH = "Admin console > Account > Admin roles"

# Google's sending limits by edition (Gmail sending limits in Google Workspace) and per-minute sends by
# project generation (Gmail API usage limits: 100 units per messages.send).
DAILY_MESSAGES = {"paid": 2000, "trial": 500}
SENDS_PER_MINUTE = {"new": 6000 // 100, "legacy": 15000 // 100}
RECIPIENTS_PER_MESSAGE = 100
BATCH_ADVISED = 50


@dataclass(frozen=True)
class Check:
    """One line of the checklist: ``fix`` says what to change when ``ok`` is False."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def _failure(name: str, exc: BaseException, fix: str) -> Check:
    return Check(name, False, str(getattr(exc, "message", None) or exc)[:300], fix)


def _api_fix(exc: GoogleApiError, api: str, default: str) -> str:
    """The fix for an API refusal: missing scope or API not enabled in the project, else ``default``."""
    if isinstance(exc, InsufficientScope) or exc.insufficient_scope:
        return f"{DELEGATION_PATH}: add {', '.join(creds_mod.SCOPES_BY_API[api])} to the pipeline's client ID"
    if exc.reason in ("accessNotConfigured", "SERVICE_DISABLED"):
        return f"Google Cloud console > APIs & Services > Library: enable the {api} API for the project"
    return default


# -- tokens ------------------------------------------------------------------------------------------------


def _identities(settings: Settings) -> list[tuple[str, str | None]]:
    admin = settings.google.admin_subject
    pairs: list[tuple[str, str | None]] = [(api, admin) for api in ("directory", "drive", "sheets", "forms")]
    pairs += [("gmail", str(sender)) for sender in settings.senders]
    # Drive export folders are read as the admin subject with drive.readonly; a school's own YouTube channel as
    # its owner mailbox with youtube.readonly.
    if any(site.drive_export_folders() for site in settings.sites):
        pairs.append(("drive_exports", admin))
    pairs += [("youtube", owner) for owner in sorted({o for _, _, o in owned_channels(settings)})]
    return pairs


def owned_channels(settings: Settings) -> list[tuple[str, str, str]]:
    """Every YouTube channel the profile reads as its owner, as (site id, channel id, owner mailbox)."""
    return [(site.id, cid, owner) for site in settings.sites for cid in site.youtube_channels
            if (owner := site.youtube_owner(cid))]


def check_tokens(settings: Settings, clients: GoogleClients) -> list[Check]:
    """A token for each (scopes, subject) the pipeline uses: proves domain-wide delegation and the subjects."""
    from google.auth import exceptions as auth_exceptions

    out: list[Check] = []
    if not settings.google.admin_subject:
        out.append(
            Check(
                "admin subject configured",
                False,
                "google.admin_subject is not set",
                "set google.admin_subject (DC_GOOGLE__ADMIN_SUBJECT) to a Directory admin of the domain",
            )
        )
    try:
        info = clients.service_account_info()
    except creds_mod.CredentialsError as exc:
        return [*out, Check("service-account key", False, str(exc), "configure the key (see README)")]
    client_id = str(info.get("client_id", "?"))
    for api, subject in _identities(settings):
        scopes = clients.scopes(api)
        name = f"token {api} as {subject or 'service account'}"
        try:
            creds = creds_mod.service_account_credentials(info, scopes, subject)
            creds.refresh(creds_mod.auth_request(settings))
        except auth_exceptions.RefreshError as exc:
            text = str(exc)
            if "unauthorized_client" in text:
                fix = f"{DELEGATION_PATH}: client ID {client_id} needs the scopes {','.join(scopes)}"
            elif "invalid_grant" in text:
                fix = f"{USERS_PATH}: {subject} must be an active (not suspended) user of the domain"
            else:
                fix = "check the service-account key (not revoked) and the machine's clock"
            out.append(Check(name, False, text[:300], fix))
        except auth_exceptions.TransportError as exc:
            out.append(Check(name, False, str(exc)[:300], "the token endpoint is unreachable from this machine"))
        else:
            out.append(Check(name, True, f"{len(scopes)} scope(s) granted"))
    return out


# -- Directory and sheets ----------------------------------------------------------------------------------


def check_directory(settings: Settings, clients: GoogleClients) -> list[Check]:
    """The admin subject can list the domain's users (roster sync reads every active account)."""
    name = "Directory readable"
    try:
        first = next(iter(list_users(clients, page_size=1)), None)
    except GoogleApiError as exc:
        default = f"{ROLES_PATH}: give {settings.google.admin_subject} an admin role with Users > Read"
        return [_failure(name, exc, _api_fix(exc, "directory", default))]
    if first is None:
        return [Check(name, False, "the Directory listed no users", f"{USERS_PATH}: check customer/domain")]
    return [Check(name, True, "users.list answered as the admin subject")]


def configured_sheets(settings: Settings) -> list[tuple[str, str, str]]:
    """Every ``sheets:`` input in the profile as (site id, kind, spreadsheet id)."""
    out = []
    for site in settings.sites:
        for kind, sources in (("associated persons", site.associated_sources), ("consent", site.consent_sources)):
            out += [(site.id, kind, s.removeprefix(SHEETS_PREFIX)) for s in sources if s.startswith(SHEETS_PREFIX)]
    return out


def check_sheets(settings: Settings, clients: GoogleClients) -> list[Check]:
    """Each configured school sheet is readable by the admin subject (two reads each, as the ingest makes)."""
    admin = settings.google.admin_subject
    out = []
    for site_id, kind, sheet_id in configured_sheets(settings):
        name = f"sheet {sheet_id} ({site_id} {kind}) readable"
        try:
            tabs = get_sheet_values(clients, sheet_id)
        except (PermissionDenied, NotFound) as exc:
            fix = (
                f"the school shares spreadsheet {sheet_id} with {admin} as Viewer (open the sheet > Share > add "
                f"{admin} > Viewer); the pipeline reads sheets as the admin subject"
            )
            out.append(_failure(name, exc, _api_fix(exc, "sheets", fix)))
        except GoogleApiError as exc:
            out.append(_failure(name, exc, _api_fix(exc, "sheets", "retry; if it persists check the sheet id")))
        else:
            out.append(Check(name, True, f"{len(tabs)} tab(s)"))
    return out


# -- social media read with delegation ------------------------------------------------------------------------


def check_social(settings: Settings, clients: GoogleClients) -> list[Check]:
    """Each Drive export folder opens for the admin subject, and each owned channel is its owner's."""
    from compliance.errors import ConfigurationError
    from compliance.google.retry import execute
    from compliance.social import drive_exports

    admin = settings.google.admin_subject
    out: list[Check] = []
    for site in settings.sites:
        for folder_id in site.drive_export_folders():
            name = f"Drive export folder {folder_id} ({site.id}) readable"
            try:
                title = drive_exports.folder_title(clients, folder_id, admin)
            except drive_exports.FolderNotShared as exc:
                out.append(Check(name, False, f"not found for {admin}", str(exc)))
            except ConfigurationError as exc:
                out.append(Check(name, False, str(exc)[:300], f"{DELEGATION_PATH}: add "
                                 f"{', '.join(creds_mod.DRIVE_EXPORT_SCOPES)} to the pipeline's client ID"))
            except GoogleApiError as exc:
                out.append(_failure(name, exc, "retry; if it persists check the folder id"))
            else:
                out.append(Check(name, True, f"folder {title!r} opens with drive.readonly"))
    for site_id, channel_id, owner in owned_channels(settings):
        name = f"YouTube channel {channel_id} ({site_id}) read as {owner}"
        fix = (f"{owner} must own channel {channel_id} (YouTube Studio > Settings > Permissions, or the Brand "
               "Account's owner); name the mailbox that owns it in youtube_channels")
        try:
            page = execute(clients.youtube_owner(owner).channels().list(part="id", mine=True, maxResults=50),
                           policy=clients.policy)
        except GoogleApiError as exc:
            out.append(_failure(name, exc, _api_fix(exc, "youtube", fix)))
        else:
            owned = {str(c.get("id")) for c in page.get("items") or []}
            out.append(Check(name, channel_id in owned,
                             "the owner's channels include it" if channel_id in owned else
                             f"{owner} owns {len(owned)} channel(s), not this one", "" if channel_id in owned else fix))
    return out


# -- senders -----------------------------------------------------------------------------------------------


def _probe_message(sender: str) -> tuple[bytes, str]:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = sender
    msg["Subject"] = "district-compliance preflight: test message (safe to delete)"
    msg["Message-ID"] = make_msgid(idstring=f"preflight.{secrets.token_hex(6)}", domain=sender.rpartition("@")[2])
    msg.set_content("Sent by `district-compliance preflight --send-test` to check this mailbox can send.")
    return bytes(msg), str(msg["Message-ID"])


def check_senders(settings: Settings, clients: GoogleClients, *, send_test: bool = False) -> list[Check]:
    """Each sender mailbox answers Gmail as itself; with ``send_test`` one message to itself is read back."""
    out = []
    for sender in (str(s) for s in settings.senders):
        name = f"sender {sender} usable"
        fix = (
            f"{USERS_PATH} > {sender}: an active user with a Gmail licence; {DELEGATION_PATH}: the scopes "
            f"{', '.join(creds_mod.GMAIL_SCOPES)}"
        )
        try:
            profile = get_mailbox_profile(clients, sender)
        except Exception as exc:  # noqa: BLE001 - a refused token or API error both mean "not usable"
            out.append(_failure(name, exc, fix if not isinstance(exc, GoogleApiError) else _api_fix(exc, "gmail", fix)))
            continue
        out.append(Check(name, True, f"mailbox {profile.get('emailAddress')}"))
        if send_test:
            out.append(_send_test(clients, sender, fix))
    return out


def _send_test(clients: GoogleClients, sender: str, fix: str) -> Check:
    name = f"sender {sender} test message read back"
    raw, message_id = _probe_message(sender)
    try:
        gmail_id = send_message(clients, sender, raw)
        kept = stored_message_ids(clients, sender, [gmail_id]).get(gmail_id) or ""
    except GoogleApiError as exc:
        return _failure(name, exc, _api_fix(exc, "gmail", fix))
    if kept.strip() != message_id.strip():
        # Not a failure of the deployment, but crash recovery must then find messages by their own reference.
        return Check(name, True, f"Gmail stored Message-ID {kept or '(none)'} instead of {message_id}")
    found = search_messages(clients, sender, [f"rfc822msgid:{message_id.strip('<>')}"])[0]
    detail = "Message-ID kept" + ("; found by rfc822msgid search" if found == gmail_id else "; search missed it")
    return Check(name, True, detail)


# -- forms and the policy ----------------------------------------------------------------------------------


def check_form(settings: Settings, clients: GoogleClients) -> list[Check]:
    """A throwaway form created, published, opened to staff (domain) and community (anyone), then deleted."""
    name = "form created, published and answerable by staff and community"
    form_id = None
    try:
        form = create_form(clients, "district-compliance preflight (safe to delete)")
        form_id = form["formId"]
        add_form_items(clients, form_id, [text_question("Preflight")])
        publish_form(clients, form_id)
        allow_form_responders(clients, form_id, "domain")
        allow_form_responders(clients, form_id, "anyone")
        state = get_form(clients, form_id).get("publishSettings", {}).get("publishState", {})
        views = {(p["type"], p.get("view")) for p in list_permissions(clients, form_id)}
    except GoogleApiError as exc:
        if exc.reason in ("publishOutNotPermitted", "sharingRateLimitExceeded") or (
            isinstance(exc, PermissionDenied) and not exc.insufficient_scope and form_id
        ):
            fix = (
                f"{SHARING_PATH}: allow sharing outside {settings.district.domain} (and 'anyone with the link' "
                "for forms): community members answer without a district account"
            )
        else:
            fix = _api_fix(exc, "forms", "check the Forms and Drive APIs are enabled for the project")
        return [_failure(name, exc, fix)] + _delete(clients, form_id)
    missing = {("domain", "published"), ("anyone", "published")} - views
    ok = bool(state.get("isPublished") and state.get("isAcceptingResponses")) and not missing
    detail = "accepting responses; responders: district accounts and anyone with the link"
    result = Check(name, ok, detail if ok else f"publish state {state}, responders missing {sorted(missing)}")
    if not ok:
        result = Check(name, False, result.detail, f"{SHARING_PATH}: allow forms to be shared outside the domain")
    return [result] + _delete(clients, form_id)


def _delete(clients: GoogleClients, file_id: str | None) -> list[Check]:
    if not file_id:
        return []
    try:
        delete_file(clients, file_id)
    except GoogleApiError as exc:
        return [_failure("throwaway file deleted", exc, f"delete Drive file {file_id} by hand")]
    return []


def check_policy(
    settings: Settings,
    clients: GoogleClients,
    published: Iterable[tuple[str, str]] = (),
    fetch: Callable[[Settings, str], Any] = fetch_anonymously,
) -> list[Check]:
    """The policy opens for someone with no Google account: each published (kind, file id) fetched anonymously.

    ``published`` is what the pipeline published (the Doc and the acknowledged revision's PDF); before the
    first run a throwaway Doc is published and fetched instead, which proves the domain allows it.
    """
    items = list(published)
    probe = None
    out: list[Check] = []
    fix = (
        f"{SHARING_PATH}: allow users to share outside {settings.district.domain} and to make files available "
        "to 'anyone with the link' (the policy is a public board document)"
    )
    if not items:
        try:
            probe = upload_file(
                clients,
                "district-compliance preflight policy probe (safe to delete)",
                "text/html",
                b"<html><body><p>preflight</p></body></html>",
                convert_to="application/vnd.google-apps.document",
            )["id"]
            publish_read_only_link(clients, probe)
        except (GoogleApiError, ShareRefused) as exc:
            return [_failure("policy readable by an outside recipient", exc, fix)] + _delete(clients, probe)
        items = [("doc_text", probe)]
    for kind, file_id in items:
        name = f"policy {'PDF' if kind == 'file' else 'Doc'} {file_id} readable by an outside recipient"
        try:
            got = fetch(settings, public_url(settings, file_id, kind))  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - network errors are a failed check, not a crash
            out.append(_failure(name, exc, "check this machine can reach docs.google.com / drive.google.com"))
            continue
        if got.readable:
            out.append(Check(name, True, f"{len(got.body)} bytes without signing in"))
        else:
            out.append(Check(name, False, f"anonymous fetch answered {got.status} (sign-in page)", fix))
    return out + _delete(clients, probe)


# -- quotas ------------------------------------------------------------------------------------------------


def check_quotas(settings: Settings) -> list[Check]:
    """Configured limits are within what the domain's edition and the Cloud project allow."""
    q = settings.quotas
    out = []
    daily = DAILY_MESSAGES[q.edition]
    out.append(
        Check(
            "daily messages per sender within the edition's limit",
            q.gmail_daily_per_sender <= daily,
            f"configured {q.gmail_daily_per_sender}, {q.edition} edition allows {daily}",
            f"set quotas.gmail_daily_per_sender = {daily} (or less) in the district profile",
        )
    )
    per_minute = SENDS_PER_MINUTE[q.project_quota]
    out.append(
        Check(
            "sends per minute within the project's Gmail quota",
            0 < q.gmail_sends_per_minute <= per_minute,
            f"configured {q.gmail_sends_per_minute}, a {q.project_quota} project allows {per_minute}",
            f"set quotas.gmail_sends_per_minute = {per_minute} (or less); Google Cloud console > APIs & Services "
            "> Gmail API > Quotas shows the project's units per minute per user",
        )
    )
    out.append(
        Check(
            "recipients per message within Gmail's 100",
            q.gmail_recipients_per_message <= RECIPIENTS_PER_MESSAGE,
            f"configured {q.gmail_recipients_per_message}",
            f"set quotas.gmail_recipients_per_message = {RECIPIENTS_PER_MESSAGE} (To, Cc and Bcc together)",
        )
    )
    out.append(
        Check(
            "batch size within Google's advice",
            q.gmail_batch_size <= BATCH_ADVISED,
            f"configured {q.gmail_batch_size}",
            f"set quotas.gmail_batch_size = {BATCH_ADVISED} or less (larger batches trigger rate limits)",
        )
    )
    return [Check(c.name, c.ok, c.detail, "" if c.ok else c.fix) for c in out]


def run_preflight(
    settings: Settings,
    clients: GoogleClients,
    *,
    send_test: bool = False,
    published_policy: Iterable[tuple[str, str]] = (),
) -> list[Check]:
    """Every check in order; a failed token check still lets the others run (they then fail with their fix)."""
    results = check_tokens(settings, clients)
    steps: list[tuple[str, Callable[[], list[Check]]]] = [
        ("Directory readable", lambda: check_directory(settings, clients)),
        ("school sheets readable", lambda: check_sheets(settings, clients)),
        ("senders usable", lambda: check_senders(settings, clients, send_test=send_test)),
        ("form created, published and answerable by staff and community", lambda: check_form(settings, clients)),
        ("policy readable by an outside recipient", lambda: check_policy(settings, clients, published_policy)),
        ("social media folders and owned channels", lambda: check_social(settings, clients)),
    ]
    for name, step in steps:
        results += _guarded(name, step)
    results += check_quotas(settings)
    return results


def _guarded(name: str, step: Callable[[], list[Check]]) -> list[Check]:
    # A refused token surfaces here as google-auth's RefreshError: the token check above already names the
    # fix, so this check only points at it instead of crashing the checklist.
    from google.auth import exceptions as auth_exceptions

    try:
        return step()
    except auth_exceptions.GoogleAuthError as exc:
        return [Check(name, False, str(exc)[:300], "fix the failed token check above (domain-wide delegation)")]


def published_policy_files(session: Any) -> list[tuple[str, str]]:
    """The latest policy version's Doc and PDF as (public-link kind, file id), from the store."""
    from sqlalchemy import select

    from compliance.models import PolicyVersion

    version = session.scalars(select(PolicyVersion).order_by(PolicyVersion.id.desc())).first()
    if version is None:
        return []
    files = [("doc_text", version.drive_file_id)]
    if version.pdf_file_id:
        files.append(("file", version.pdf_file_id))
    return files


__all__ = [
    "Check",
    "check_directory",
    "check_form",
    "check_policy",
    "check_quotas",
    "check_senders",
    "check_sheets",
    "check_social",
    "check_tokens",
    "configured_sheets",
    "owned_channels",
    "published_policy_files",
    "run_preflight",
]
