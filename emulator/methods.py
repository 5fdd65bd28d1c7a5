"""The Google API methods the compliance project calls (discovery method ids); the conformance test checks each
is routed per the discovery document and implemented statefully by the emulator."""

from __future__ import annotations

PROJECT_METHODS: tuple[str, ...] = (
    "directory.users.list",
    "directory.users.get",
    "directory.orgunits.list",
    "gmail.users.messages.send",
    "gmail.users.messages.list",
    "gmail.users.messages.get",
    "drive.files.create",
    "drive.files.get",
    "drive.files.update",
    "drive.files.list",
    "drive.files.export",
    "drive.revisions.list",
    "drive.revisions.get",
    "drive.permissions.create",
    "drive.permissions.list",
    "sheets.spreadsheets.get",
    "sheets.spreadsheets.values.get",
    "sheets.spreadsheets.values.batchGet",
    "forms.forms.create",
    "forms.forms.get",
    "forms.forms.batchUpdate",
    "forms.forms.setPublishSettings",
    "forms.forms.responses.list",
    "forms.forms.responses.get",
    "youtube.channels.list",
    "youtube.playlistItems.list",
    "youtube.videos.list",
    "blogger.blogs.get",
    "blogger.blogs.getByUrl",
    "blogger.posts.list",
    "blogger.posts.get",
)
