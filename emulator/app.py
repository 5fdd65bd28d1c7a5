"""The Starlette application: API catch-all (routed by the discovery registry), batch, token and admin API."""

from __future__ import annotations

import asyncio
import json
import secrets
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator.clock import parse_rfc3339, rfc3339
from emulator.errors import ApiError
from emulator.forms import prefill_entry
from emulator.limits import EmulatorLimits
from emulator.workspace import JSON_TYPE, Workspace, error_response, split_headers, split_multipart

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _wire(resp: Any) -> Response:
    return Response(
        resp.body,
        status_code=resp.status,
        media_type=None,
        headers={"Content-Type": resp.content_type, **resp.headers},
    )


def _admin_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "message": message}}, status_code=status)


def build_app(ws: Workspace) -> Starlette:
    """An ASGI app over one Workspace."""

    async def api(request: Request) -> Response:
        with ws.lock:
            ws.in_flight += 1
        try:
            raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
            body = await request.body()
            headers = {k.lower(): v for k, v in request.headers.items()}
            if ws.registry.is_batch_path(raw_path) and request.method == "POST":
                return await batch(headers, body)
            resp = await ws.handle(request.method, raw_path, request.url.query, headers, body)
            return _wire(resp)
        finally:
            with ws.lock:
                ws.in_flight -= 1

    async def batch(headers: dict[str, str], body: bytes) -> Response:
        content_type = headers.get("content-type", "")
        if not content_type.startswith("multipart/mixed"):
            return _wire(error_response(ApiError(400, "Batch requests must be multipart/mixed.", "badRequest")))
        try:
            parts = split_multipart(content_type, body)
        except ApiError as error:
            return _wire(error_response(error))
        if len(parts) > ws.limits.batch_max_parts:
            return _wire(
                error_response(
                    ApiError(
                        400,
                        f"Too many requests in batch: {len(parts)}; a batch may contain at most "
                        f"{ws.limits.batch_max_parts} requests.",
                        "badRequest",
                    )
                )
            )
        with ws.lock:
            ws.ctx.stats["batches"] += 1
        boundary = "batch_" + secrets.token_urlsafe(12).replace("-", "").replace("_", "")
        out: list[bytes] = []
        for part_headers, payload in parts:
            content_id = part_headers.get("content-id", "")
            request_line, _, rest = payload.partition(b"\n")
            request_line = request_line.rstrip(b"\r")
            inner_headers, inner_body = split_headers(rest)
            try:
                method, target, _version = request_line.decode("latin-1").split(" ", 2)
            except ValueError:
                resp = error_response(ApiError(400, "Failed to parse batch request.", "badRequest"))
            else:
                path, _, query = target.partition("?")
                if "authorization" not in inner_headers and "authorization" in headers:
                    inner_headers["authorization"] = headers["authorization"]
                resp = await ws.handle(method.upper(), path, query, inner_headers, inner_body)
            reason = HTTPStatus(resp.status).phrase if resp.status in HTTPStatus._value2member_map_ else ""
            response_id = ""
            if content_id:
                inner = content_id.strip()
                inner = inner[1:-1] if inner.startswith("<") and inner.endswith(">") else inner
                response_id = f"Content-ID: <response-{inner}>\r\n"
            extra = "".join(f"{k}: {v}\r\n" for k, v in resp.headers.items())
            out.append(
                (
                    f"--{boundary}\r\nContent-Type: application/http\r\n{response_id}\r\n"
                    f"HTTP/1.1 {resp.status} {reason}\r\nContent-Type: {resp.content_type}\r\n{extra}"
                    f"Content-Length: {len(resp.body)}\r\n\r\n"
                ).encode()
                + resp.body
                + b"\r\n"
            )
        out.append(f"--{boundary}--\r\n".encode())
        return Response(
            b"".join(out), status_code=200, headers={"Content-Type": f"multipart/mixed; boundary={boundary}"}
        )

    async def token(request: Request) -> Response:
        from emulator.auth import TokenError

        form = dict(parse_qsl((await request.body()).decode("latin-1"), keep_blank_values=True))
        with ws.lock:
            decision = ws.faults.decide("oauth2.token", named_only=True)
        if decision.latency_s:
            await asyncio.sleep(decision.latency_s)
        if decision.hang_s:  # the client's timeout ends it first: a transport error while getting a token
            await asyncio.sleep(decision.hang_s)
        if decision.hang_s or decision.error is not None:
            status = decision.error.code if decision.error is not None else 504
            return JSONResponse({"error": "internal_failure", "error_description": "Token endpoint unavailable"},
                                status_code=status)
        try:
            granted = ws.token(form)
        except TokenError as exc:
            return JSONResponse({"error": exc.error, "error_description": exc.description}, status_code=400)
        return JSONResponse(granted)

    # -- admin API ------------------------------------------------------------------------------------------

    async def _json(request: Request) -> dict[str, Any]:
        raw = await request.body()
        data = json.loads(raw) if raw.strip() else {}
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data

    async def seed(request: Request) -> Response:
        try:
            return JSONResponse(ws.seed(await _json(request)))
        except (ValueError, KeyError, TypeError) as exc:
            return _admin_error(400, f"bad seed: {exc}")

    async def seed_dir(request: Request) -> Response:
        try:
            return JSONResponse(ws.seed_dir((await _json(request))["path"]))
        except (ValueError, KeyError, TypeError, OSError) as exc:
            return _admin_error(400, f"bad seed_dir: {exc}")

    async def submit(request: Request) -> Response:
        try:
            payload = await _json(request)
        except ValueError as exc:
            return _admin_error(400, str(exc))
        try:
            with ws.lock:
                form_id = request.path_params.get("form_id") or ws.forms.by_link(str(payload.get("prefilled_url")))
                stored = ws.forms.submit(form_id, payload, ws.clock.now())
        except ApiError as error:
            return _wire(error_response(error))
        except ValueError as exc:
            return _admin_error(400, str(exc))
        return JSONResponse(stored)

    async def form_view(request: Request) -> Response:
        with ws.lock:
            stored = ws.forms.forms.get(request.path_params["form_id"])
            if stored is None:
                return _admin_error(404, "no such form")
            return JSONResponse(
                {
                    "form": stored.form,
                    "owner": stored.owner,
                    "prefill": {qid: prefill_entry(qid) for qid in stored.questions()},
                    "responses": len(stored.responses),
                }
            )

    async def mail(request: Request) -> Response:
        since = request.query_params.get("since")
        try:
            when = parse_rfc3339(since) if since else None
        except ValueError as exc:
            return _admin_error(400, str(exc))
        with ws.lock:
            return JSONResponse(ws.gmail.decoded(request.query_params.get("sender"), when))

    async def bounce(request: Request) -> Response:
        data = await _json(request)
        try:
            with ws.lock:
                dsn = ws.gmail.bounce(
                    str(data["message_id"]),
                    ws.clock.now(),
                    data.get("reason", "550 5.1.1 The email account that you tried to reach does not exist."),
                    kind=str(data.get("kind", "address")),
                )
        except KeyError:
            return _admin_error(404, f"no sent message {data.get('message_id')!r}")
        return JSONResponse(dsn)

    async def senders(request: Request) -> Response:
        with ws.lock:
            return JSONResponse(ws.gmail.sending_counts())

    async def mailbox(request: Request) -> Response:
        user = request.path_params["user"].lower()
        with ws.lock:
            from emulator.gmail import decode_message

            return JSONResponse([decode_message(ws.gmail.messages[i]) for i in ws.gmail.mailboxes.get(user, [])])

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            with ws.lock:
                ws.faults.clear()
            return JSONResponse({"rules": 0})
        try:
            data = await _json(request)
            with ws.lock:
                ws.faults.configure(data)
                return JSONResponse({"rules": len(ws.faults.rules)})
        except (ValueError, TypeError) as exc:
            return _admin_error(400, str(exc))

    async def release(request: Request) -> Response:
        return JSONResponse({"released": ws.release_held()})

    async def limits(request: Request) -> Response:
        if request.method == "POST":
            try:
                data = await _json(request)
                merged = ws.limits.model_dump() | data
                new = EmulatorLimits.model_validate(merged)
                unknown = set(data) - set(EmulatorLimits.model_fields)
                if unknown:
                    return _admin_error(400, f"unknown limits {sorted(unknown)}")
            except ValueError as exc:
                return _admin_error(400, str(exc))
            with ws.lock:
                ws.ctx.limits = new
        return JSONResponse(ws.limits.model_dump())

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            data = await _json(request)
            try:
                if "now" in data:
                    ws.clock.set(parse_rfc3339(str(data["now"])))
                if "advance_seconds" in data:
                    ws.clock.advance(float(data["advance_seconds"]))
                if data.get("reset"):
                    ws.clock.reset()
            except (ValueError, TypeError) as exc:
                return _admin_error(400, str(exc))
        return JSONResponse({"now": rfc3339(ws.clock.now())})

    async def stats(request: Request) -> Response:
        return JSONResponse(ws.stats())

    async def reset(request: Request) -> Response:
        ws.reset()
        return JSONResponse({"reset": True})

    async def notifications(request: Request) -> Response:
        with ws.lock:
            return JSONResponse(list(ws.drive.notifications))

    async def service_account(request: Request) -> Response:
        email = request.query_params.get("client_email", "compliance@district-project.iam.gserviceaccount.com")
        return JSONResponse(ws.service_account_info(email))

    async def public_link(request: Request) -> Response:
        # What an anonymous browser gets from docs.google.com/document/d/<id>/export?format=… or
        # drive.google.com/uc?export=download&id=…: the content when the file is open to anyone with the link,
        # else a redirect to the Google sign-in page (as Google answers for a restricted file).
        file_id = request.path_params.get("file_id") or request.query_params.get("id", "")
        with ws.lock:
            result = ws.drive.public_content(file_id, request.query_params.get("format"))
        if result is None:
            return Response(
                b"", status_code=302, headers={"Location": "https://accounts.google.com/ServiceLogin?continue=..."}
            )
        return Response(result.content or b"", status_code=200, headers={"Content-Type": result.content_type})

    async def domain_policy(request: Request) -> Response:
        # Admin-console settings a deployment depends on: domain-wide delegation per client id (None: every
        # client and scope allowed) and Drive's "sharing outside of the domain".
        if request.method == "POST":
            data = await _json(request)
            with ws.lock:
                if "delegation" in data:
                    raw = data["delegation"]
                    ws.keys.delegation = (
                        None if raw is None else {str(k): frozenset(v) for k, v in dict(raw).items()}
                    )
                if "external_sharing" in data:
                    ws.drive.external_sharing = bool(data["external_sharing"])
                if "refuse_unknown_subjects" in data:
                    ws.refuse_unknown_subjects = bool(data["refuse_unknown_subjects"])
        with ws.lock:
            delegation = ws.keys.delegation
            return JSONResponse(
                {
                    "delegation": None
                    if delegation is None
                    else {k: sorted(v) for k, v in delegation.items()},
                    "external_sharing": ws.drive.external_sharing,
                    "refuse_unknown_subjects": ws.refuse_unknown_subjects,
                }
            )

    async def api_key(request: Request) -> Response:
        return JSONResponse({"key": ws.api_key(request.query_params.get("project", "district-project"))})

    async def youtube_video(request: Request) -> Response:
        # A school uploads, edits or deletes a video between two nights: {channel_id, video: {...}, delete?}
        data = await _json(request)
        try:
            with ws.lock:
                channel_id = str(data["channel_id"])
                if data.get("delete"):
                    return JSONResponse({"deleted": ws.youtube.delete_video(channel_id, str(data["video_id"]))})
                video = ws.youtube.put_video(channel_id, dict(data["video"]))
        except KeyError as exc:
            return _admin_error(404, f"unknown channel or field {exc}")
        except (ValueError, TypeError) as exc:
            return _admin_error(400, str(exc))
        return JSONResponse({"id": video.id, "publishedAt": video.published_at})

    async def blogger_post(request: Request) -> Response:
        # A teacher publishes, edits or deletes a post: {blog_id, post: {...}, delete?}
        data = await _json(request)
        try:
            with ws.lock:
                blog_id = str(data["blog_id"])
                if data.get("delete"):
                    return JSONResponse({"deleted": ws.blogger.delete_post(blog_id, str(data["post_id"]))})
                post = ws.blogger.put_post(blog_id, dict(data["post"]))
        except KeyError as exc:
            return _admin_error(404, f"unknown blog or field {exc}")
        except (ValueError, TypeError) as exc:
            return _admin_error(400, str(exc))
        return JSONResponse({"id": post.id, "updated": post.updated})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "now": rfc3339(ws.clock.now())})

    routes = [
        Route("/token", token, methods=["POST"]),
        Route("/_emulator/health", health, methods=["GET"]),
        Route("/_emulator/api_key", api_key, methods=["GET"]),
        Route("/_emulator/youtube/videos", youtube_video, methods=["POST"]),
        Route("/_emulator/blogger/posts", blogger_post, methods=["POST"]),
        Route("/_emulator/seed", seed, methods=["POST"]),
        Route("/_emulator/seed_dir", seed_dir, methods=["POST"]),
        Route("/_emulator/forms/responses", submit, methods=["POST"]),
        Route("/_emulator/forms/{form_id}/responses", submit, methods=["POST"]),
        Route("/_emulator/forms/{form_id}", form_view, methods=["GET"]),
        Route("/_emulator/mail", mail, methods=["GET"]),
        Route("/_emulator/mail/bounce", bounce, methods=["POST"]),
        Route("/_emulator/mail/senders", senders, methods=["GET"]),
        Route("/_emulator/mailbox/{user}", mailbox, methods=["GET"]),
        Route("/_emulator/faults", faults, methods=["POST", "DELETE"]),
        Route("/_emulator/faults/release", release, methods=["POST"]),
        Route("/_emulator/limits", limits, methods=["GET", "POST"]),
        Route("/_emulator/clock", clock, methods=["GET", "POST"]),
        Route("/_emulator/stats", stats, methods=["GET"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/drive/notifications", notifications, methods=["GET"]),
        Route("/_emulator/service_account", service_account, methods=["GET"]),
        Route("/_emulator/domain_policy", domain_policy, methods=["GET", "POST"]),
        Route("/document/d/{file_id}/export", public_link, methods=["GET"]),
        Route("/uc", public_link, methods=["GET"]),
        Route("/{path:path}", api, methods=_METHODS),
    ]
    return Starlette(routes=routes)


__all__ = ["JSON_TYPE", "build_app"]
