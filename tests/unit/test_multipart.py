"""webapp.multipart: Werkzeug's multipart decoder with boundaries found by ``bytes.find`` instead of two patterns
compiled per request must turn every body, cut into chunks anywhere, into the same events (or the same error)."""

from __future__ import annotations

import io
import random

import pytest
from werkzeug import formparser
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.sansio.multipart import Epilogue, MultipartDecoder, NeedData

from webapp import multipart

BOUNDARY_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'()+_,-./:=?"


def events(decoder_class: type[MultipartDecoder], boundary: bytes, chunks: list[bytes]) -> list[object]:
    """Every event (as a comparable tuple) the decoder gives for the chunks, or the error that stopped it."""
    decoder = decoder_class(boundary, max_form_memory_size=10_000, max_parts=50)
    seen: list[object] = []
    try:
        for chunk in [*chunks, None]:
            decoder.receive_data(chunk)
            while True:
                event = decoder.next_event()
                if isinstance(event, NeedData):
                    break
                seen.append((type(event).__name__, repr(event)))
                if isinstance(event, Epilogue):
                    return seen
    except (ValueError, RequestEntityTooLarge) as error:
        seen.append(("error", type(error).__name__))
    return seen


def random_body(rng: random.Random, boundary: bytes) -> bytes:
    line_break = rng.choice([b"\r\n", b"\r\n", b"\n"])
    noise = [b"\r", b"\n", b"\r\n", b"--", b"-", boundary[: rng.randrange(len(boundary) + 1)], b"--" + boundary, b" "]
    parts = [rng.choice([b"", b"preamble" + line_break, b"x"])]
    for number in range(rng.randrange(0, 5)):
        parts.append(b"--" + boundary + rng.choice([b"", b" ", b"\t "]) + line_break)
        filename = b'; filename="p.jpg"' if rng.random() < 0.5 else b""
        parts.append(b'Content-Disposition: form-data; name="f%d"%s' % (number, filename) + line_break)
        if rng.random() < 0.3:
            parts.append(b"Content-Type: image/jpeg" + line_break)
        parts.append(line_break)
        content = b"".join(
            rng.choice(noise) if rng.random() < 0.2 else bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
            for _ in range(rng.randrange(0, 30))
        )
        parts.append(content + line_break)
    ending = rng.choice([b"--" + boundary + b"--" + line_break, b"--" + boundary + b"--", b"--" + boundary + b"-- \r\n",
                         b"", b"--" + boundary + line_break, b"--" + boundary[:-1]])  # fmt: skip
    parts.append(ending + rng.choice([b"", b"epilogue"]))
    body = b"".join(parts)
    if rng.random() < 0.1:  # a damaged body: a byte dropped or changed anywhere
        at = rng.randrange(len(body)) if body else 0
        body = body[:at] + rng.choice([b"", b"\r", b"-", b"x"]) + body[at + 1 :]
    return body


def chunked(rng: random.Random, body: bytes) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randrange(0, 6)))) if len(body) > 1 else []
    return [body[start:end] for start, end in zip([0, *cuts], [*cuts, len(body)], strict=True)]


@pytest.mark.parametrize("seed", range(8))
def test_the_same_events_as_werkzeugs_decoder_for_random_bodies(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(400):
        boundary = "".join(rng.choice(BOUNDARY_CHARS) for _ in range(rng.randrange(1, 71))).encode()
        body = random_body(rng, boundary)
        chunks = chunked(rng, body)
        assert events(multipart.BoundaryDecoder, boundary, chunks) == events(MultipartDecoder, boundary, chunks), (
            boundary,
            chunks,
        )


def test_a_report_body_with_a_photo_parses_to_its_fields_and_file() -> None:
    boundary = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"
    photo = bytes(random.Random(1).randrange(256) for _ in range(200_000)) + b"\r\n--" + boundary[:-3]
    body = (
        b'--%s\r\nContent-Disposition: form-data; name="category"\r\n\r\n06042\r\n'
        b'--%s\r\nContent-Disposition: form-data; name="photos"; filename="p.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n%s\r\n--%s--\r\n" % (boundary, boundary, photo, boundary)
    )
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    assert events(multipart.BoundaryDecoder, boundary, chunks) == events(MultipartDecoder, boundary, chunks)
    previous = formparser.MultipartDecoder
    multipart.install()
    try:
        form, files = formparser.MultiPartParser(max_form_memory_size=500_000).parse(
            io.BytesIO(body), boundary, len(body)
        )
    finally:
        formparser.MultipartDecoder = previous  # type: ignore[misc]
    stored = files["photos"]
    try:
        assert form["category"] == "06042" and stored.read() == photo
    finally:
        stored.close()


def test_the_app_parses_forms_with_it(app) -> None:  # type: ignore[no-untyped-def]
    assert formparser.MultipartDecoder is multipart.BoundaryDecoder
