"""How a rejected photo answers: one table of HTTP status, error code and message for every reason and upload.

``pipeline.process_photo`` raises ``PhotoRejected(reason)``; every upload (report photos, store item photos,
feedback screenshots) turns it into its domain error through ``answer`` so the same reason always gets the same
status and code, and the wording of each upload lives here, next to the others.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from flask_babel import gettext

from webapp.photos.pipeline import REASONS, PhotoRejected


def N_(message: str) -> str:  # noqa: N802 - marks a message for extraction; translated in ``answer``
    return message


class Upload(enum.StrEnum):
    REPORT_PHOTO = "report_photo"  # "Photo 2 is …": a report carries up to three numbered photos
    PHOTO = "photo"  # a store item's photo
    SCREENSHOT = "screenshot"  # a feedback screenshot


#: reason → (HTTP status, error code)
STATUS: dict[str, tuple[int, str]] = {
    "empty": (422, "photo_empty"),
    "too_large": (413, "photo_too_large"),
    "too_many_pixels": (413, "photo_too_many_pixels"),
    "unsupported": (415, "photo_unsupported"),
    "corrupt": (422, "photo_corrupt"),
}

#: upload → reason → message (placeholders: n = photo number, mb = size limit, kind = the format found)
MESSAGES: dict[Upload, dict[str, str]] = {
    Upload.REPORT_PHOTO: {
        "empty": N_("Photo %(n)d is an empty file."),
        "too_large": N_("Photo %(n)d is too large: at most %(mb)d MB per photo."),
        "too_many_pixels": N_("Photo %(n)d has too many pixels. Please send an ordinary camera photo."),
        "unsupported": N_(
            "Photo %(n)d is not a supported picture (%(kind)s). Please send a JPEG, PNG, WebP or HEIC photo."
        ),
        "corrupt": N_("Photo %(n)d is damaged or incomplete. Please take it again."),
    },
    Upload.PHOTO: {
        "empty": N_("The photo is empty, damaged or incomplete. Please choose another."),
        "too_large": N_("The photo is too large: at most %(mb)d MB."),
        "too_many_pixels": N_("The photo has too many pixels. Please send an ordinary camera photo."),
        "unsupported": N_("The photo is not a supported picture. Please send a JPEG, PNG, WebP or HEIC photo."),
        "corrupt": N_("The photo is empty, damaged or incomplete. Please choose another."),
    },
    Upload.SCREENSHOT: {
        "empty": N_("The screenshot is empty or damaged. Please take it again."),
        "too_large": N_("The screenshot is too large: at most %(mb)d MB."),
        "too_many_pixels": N_("The screenshot has too many pixels. Please send an ordinary screenshot."),
        "unsupported": N_("The screenshot is not a supported picture. Please send a PNG, JPEG, WebP or HEIC image."),
        "corrupt": N_("The screenshot is empty or damaged. Please take it again."),
    },
}

assert set(STATUS) == REASONS and all(set(table) == REASONS for table in MESSAGES.values())


class Answer(NamedTuple):
    message: str
    status: int
    code: str


def answer(rejected: PhotoRejected, upload: Upload, *, max_bytes: int, number: int = 0) -> Answer:
    """The message (in the user's language), HTTP status and error code for a rejected upload."""
    status, code = STATUS[rejected.reason]
    kind = rejected.format_name or gettext("unknown")
    message = gettext(MESSAGES[upload][rejected.reason], n=number, mb=max_bytes // 2**20, kind=kind)
    return Answer(message, status, code)
