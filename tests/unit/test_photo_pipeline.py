"""Unit tests of webapp.photos.pipeline: what happens to every kind of upload, without the Flask app.

The images in tests/data/images come with a README table naming the outcome each one must get; hostile inputs
(empty, text renamed .jpg, SVG, a 30 MB blob, truncated JPEGs, random bytes, headers declaring huge canvases)
are generated here instead of being stored.
"""

from __future__ import annotations

import io
import math
import random
import re
import struct
import subprocess
import sys
import time
import zlib
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageCms, ImageFile, ImageOps, ImageStat, JpegImagePlugin, TiffImagePlugin

from webapp.photos import pipeline
from webapp.photos.pipeline import PhotoRejected, ProcessedPhoto, hamming_distance, process_photo, sniff_format

IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"

# The outcome the README table names for each stored image: "accept" or the rejection reason.
EXPECTED = {
    "exif_gps.jpg": "accept",
    "hopper_orientation_6.jpg": "accept",
    "flower.jpg": "accept",
    "flower2.jpg": "accept",
    "pil_sample_cmyk.jpg": "accept",
    "hopper_gray.jpg": "accept",
    "app13.jpg": "accept",
    "hopper.png": "accept",
    "hopper.webp": "accept",
    "hopper.heif": "accept" if pipeline.HEIF_SUPPORTED else "unsupported",
    "decompression_bomb.gif": "too_many_pixels",
    "broken.png": "corrupt",
}
ACCEPTED = sorted(name for name, outcome in EXPECTED.items() if outcome == "accept")
REJECTED = sorted(name for name, outcome in EXPECTED.items() if outcome != "accept")
SOURCE_FORMAT = {".jpg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".heif": "HEIF", ".gif": "GIF"}


def read(name: str) -> bytes:
    return (IMAGES / name).read_bytes()


def jpeg_markers(data: bytes) -> list[int]:
    """The marker codes of a JPEG's header segments, up to and including SOS."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    markers, pos = [], 2
    while pos < len(data):
        assert data[pos] == 0xFF, f"bad segment at {pos}"
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
    return markers


def assert_clean_jpeg(data: bytes, *, max_edge: int) -> Image.Image:
    """A baseline RGB JPEG within max_edge that carries nothing but pixels."""
    markers = jpeg_markers(data)
    app_segments = [m for m in markers if 0xE0 <= m <= 0xEF]
    assert app_segments == [0xE0], f"APPn segments other than JFIF: {[hex(m) for m in app_segments]}"
    assert 0xFE not in markers, "COM segment"
    assert 0xC0 in markers, "not a baseline JPEG"
    assert b"Exif\x00" not in data and b"ICC_PROFILE" not in data and b"Photoshop" not in data
    assert b"http://ns.adobe.com/xap" not in data
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG" and im.mode == "RGB"
    assert max(im.size) <= max_edge
    assert len(im.getexif()) == 0
    for key in ("exif", "icc_profile", "photoshop", "xmp", "comment", "adobe"):
        assert key not in im.info, key
    im.load()
    return im


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def rejected(data: bytes, **kwargs: int) -> PhotoRejected:
    with pytest.raises(PhotoRejected) as info:
        process_photo(data, **kwargs)
    return info.value


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **params)
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header declaring a width x height 1-bit canvas, with far too little pixel data after it."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def phone_photo(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """make_phone_photo.py at 2000x1500: a camera-like JPEG with Orientation=6 and GPS in Taiyuan."""
    out = tmp_path_factory.mktemp("phone") / "phone.jpg"
    subprocess.run(
        [sys.executable, str(IMAGES / "make_phone_photo.py"), str(out), "2000", "1500"],
        check=True,
        capture_output=True,
    )
    return out.read_bytes()


@pytest.fixture
def allocations(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Records the size of every image canvas Pillow allocates while the test runs."""
    sizes: list[tuple[int, int]] = []
    for name in ("new", "fill"):
        original = getattr(Image.core, name)

        def spy(mode, size, *args, _original=original):  # type: ignore[no-untyped-def]
            sizes.append(tuple(size))
            return _original(mode, size, *args)

        monkeypatch.setattr(Image.core, name, spy)
    return sizes


# ----------------------------------------------------------------------------------------------------------
# The stored test images


def test_readme_table_names_every_stored_image() -> None:
    readme = (IMAGES / "README.md").read_text(encoding="utf-8")
    named = set()
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3 and cells[0] not in ("file", "---"):
            named.update(name.strip() for name in cells[0].split(","))
    stored = {path.name for path in IMAGES.iterdir() if path.suffix not in (".md", ".py")}
    assert named == stored == set(EXPECTED)


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_images_become_clean_jpegs(name: str) -> None:
    result = process_photo(read(name))
    assert isinstance(result, ProcessedPhoto)
    display = assert_clean_jpeg(result.display, max_edge=1600)
    thumbnail = assert_clean_jpeg(result.thumbnail, max_edge=320)
    assert display.size == (result.width, result.height)
    assert thumbnail.size == (result.thumb_width, result.thumb_height)
    assert result.source_format == SOURCE_FORMAT[Path(name).suffix]
    with Image.open(IMAGES / name) as original:
        assert (result.source_width, result.source_height) == original.size
        # Every stored image is under 1600 px, so the display copy keeps its size (turned, for orientation 6).
        assert {result.width, result.height} == set(original.size)
    assert re.fullmatch(r"[0-9a-f]{16}", result.phash)
    assert "display=" not in repr(result) and "b'" not in repr(result)  # the bytes stay out of logs


@pytest.mark.parametrize("name", REJECTED)
def test_rejected_images_get_the_reason_the_readme_names(name: str) -> None:
    assert rejected(read(name)).reason == EXPECTED[name]


def test_exif_gps_jpg_carries_gps_tags_but_nothing_reaches_the_output() -> None:
    data = read("exif_gps.jpg")
    with Image.open(io.BytesIO(data)) as original:
        gps_ifd = original.getexif().get_ifd(0x8825)
    assert gps_ifd, "the fixture should carry a GPS IFD"
    result = process_photo(data)
    # Its GPS IFD holds Pillow's out-of-range test values (latitude 4294967295, no longitude): not a position.
    assert result.gps is None
    assert pipeline.parse_gps(gps_ifd) is None
    # DateTimeOriginal is syntactically valid; judging whether 2099 is plausible is the caller's job.
    assert result.taken_at == datetime(2099, 9, 29, 10, 10, 10)
    for output in (result.display, result.thumbnail):
        assert_clean_jpeg(output, max_edge=1600)
        assert b"GPS" not in output and b"Make" not in output and b"XXX-XXX" not in output


def test_orientation_6_comes_out_upright_without_an_orientation_tag() -> None:
    data = read("hopper_orientation_6.jpg")
    result = process_photo(data)
    display = assert_clean_jpeg(result.display, max_edge=1600)
    assert 0x0112 not in display.getexif()
    with Image.open(io.BytesIO(data)) as original:
        upright = ImageOps.exif_transpose(original)
        as_stored = original.convert("RGB")
    assert display.size == upright.size
    assert mean_difference(display, upright) < 4
    assert mean_difference(display, as_stored) > 20  # the picture was really turned


def test_cmyk_jpeg_is_stored_as_rgb_with_the_right_colours() -> None:
    data = read("pil_sample_cmyk.jpg")
    result = process_photo(data)
    display = assert_clean_jpeg(result.display, max_edge=1600)
    with Image.open(io.BytesIO(data)) as original:
        assert original.mode == "CMYK"
        reference = original.convert("RGB")
    # Pillow's CMYK -> RGB conversion through the same JPEG encoder: identical (inverted CMYK: ~240 off).
    as_encoded = encode(reference, "JPEG", quality=pipeline.DISPLAY_QUALITY)
    assert mean_difference(display, Image.open(io.BytesIO(as_encoded))) < 1
    assert mean_difference(display, reference) < 10


def test_app13_photoshop_block_is_dropped() -> None:
    data = read("app13.jpg")
    assert 0xED in jpeg_markers(data)
    result = process_photo(data)
    for output in (result.display, result.thumbnail):
        assert 0xED not in jpeg_markers(output)
        assert b"\xff\xed" not in output
        assert "photoshop" not in Image.open(io.BytesIO(output)).info


def test_greyscale_jpeg_becomes_rgb() -> None:
    display = assert_clean_jpeg(process_photo(read("hopper_gray.jpg")).display, max_edge=1600)
    red, green, blue = display.split()
    assert ImageChops.difference(red, green).getbbox() is None
    assert ImageChops.difference(green, blue).getbbox() is None


def test_heif_follows_heif_supported() -> None:
    data = read("hopper.heif")
    assert sniff_format(data) == "HEIF"
    if pipeline.HEIF_SUPPORTED:
        result = process_photo(data)
        assert result.source_format == "HEIF"
        assert (result.width, result.height) == (128, 128)
        assert mean_difference(Image.open(io.BytesIO(result.display)), Image.open(IMAGES / "hopper.png")) < 8
    else:
        error = rejected(data)
        assert (error.reason, error.format_name) == ("unsupported", "HEIF")


def test_heif_is_refused_by_name_without_pillow_heif(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "HEIF_SUPPORTED", False)
    error = rejected(read("hopper.heif"))
    assert (error.reason, error.format_name) == ("unsupported", "HEIF")


def test_decompression_bomb_gif_is_refused_before_any_canvas_exists(
    allocations: list[tuple[int, int]],
) -> None:
    started = time.perf_counter()
    error = rejected(read("decompression_bomb.gif"))
    assert error.reason == "too_many_pixels"
    assert error.format_name == "GIF"
    assert time.perf_counter() - started < 1
    assert allocations == []


def test_broken_png_is_corrupt() -> None:
    error = rejected(read("broken.png"))
    assert (error.reason, error.format_name) == ("corrupt", "PNG")


# ----------------------------------------------------------------------------------------------------------
# Hostile and limit inputs


def test_empty_upload() -> None:
    assert rejected(b"").reason == "empty"


def test_30_mb_blob_is_too_large_and_never_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_open(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a too-large upload was handed to Pillow")

    monkeypatch.setattr(pipeline.Image, "open", must_not_open)
    blob = b"\xff\xd8\xff\xe0" + bytes(30 * 1024 * 1024)
    assert rejected(blob).reason == "too_large"


def test_max_bytes_is_inclusive() -> None:
    data = read("flower.jpg")
    assert process_photo(data, max_bytes=len(data)).width == 480
    assert rejected(data, max_bytes=len(data) - 1).reason == "too_large"


@pytest.mark.parametrize(
    ("data", "format_name"),
    [
        (b"Pothole on Yingze Street, please fix.\n", "TEXT"),
        ("迎泽大街有个坑，请尽快修理。\n".encode(), "TEXT"),
        ("迎泽大街有个坑，请尽快修理。\n".encode("gb18030"), "TEXT"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG"),
        (
            b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- made by hand -->\n'
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
            "SVG",
        ),
        (b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>", "HTML"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n", "POSTSCRIPT"),
        (b"II*\x00\x08\x00\x00\x00" + bytes(64), "TIFF"),
        (b"PK\x03\x04" + bytes(64), "ZIP"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(64), "MP4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + bytes(64), "MOV"),
    ],
)
def test_non_photos_are_unsupported_and_named(data: bytes, format_name: str) -> None:
    assert sniff_format(data) == format_name
    error = rejected(data)
    assert (error.reason, error.format_name) == ("unsupported", format_name)


def test_bmp_is_unsupported_even_though_pillow_could_read_it() -> None:
    data = encode(Image.new("RGB", (8, 8), "red"), "BMP")
    error = rejected(data)
    assert (error.reason, error.format_name) == ("unsupported", "BMP")


def test_random_bytes_are_unsupported() -> None:
    rng = random.Random(2024)
    for _ in range(20):
        data = rng.randbytes(rng.randrange(64, 4096))
        if sniff_format(data) in pipeline.ACCEPTED_FORMATS:  # astronomically unlikely; keep the test honest
            continue
        error = rejected(data)
        assert error.reason == "unsupported"


@pytest.mark.parametrize("keep", [0.98, 0.9, 0.6, 0.3, 0.05])
def test_truncated_jpeg_is_corrupt(keep: float) -> None:
    data = read("flower.jpg")
    error = rejected(data[: int(len(data) * keep)])
    assert (error.reason, error.format_name) == ("corrupt", "JPEG")


@pytest.mark.parametrize(
    "magic", [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\x00\x10\x00\x00WEBPVP8 "]
)
def test_valid_magic_followed_by_garbage_is_corrupt(magic: bytes) -> None:
    data = magic + random.Random(5).randbytes(2000)
    assert rejected(data).reason == "corrupt"


def test_truncated_images_stay_rejected_even_if_someone_enables_load_truncated(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = read("flower.jpg")
    assert rejected(data[: len(data) // 2]).reason == "corrupt"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert "LOAD_TRUNCATED_IMAGES" in caplog.text


def test_pixel_limit_is_checked_from_the_header(allocations: list[tuple[int, int]]) -> None:
    # 8000x7000 = 56 MP: above the default 50 MP, below Pillow's own guard; the data behind it is far too
    # short, so "corrupt" would mean the decoder had been started.
    error = rejected(png_declaring(8000, 7000))
    assert (error.reason, error.format_name) == ("too_many_pixels", "PNG")
    assert allocations == []
    assert rejected(read("flower.jpg"), max_pixels=480 * 360 - 1).reason == "too_many_pixels"
    assert process_photo(read("flower.jpg"), max_pixels=480 * 360).width == 480


def test_pillows_bomb_warning_is_a_rejection_not_a_warning(allocations: list[tuple[int, int]]) -> None:
    # 100 MP is above Image.MAX_IMAGE_PIXELS (89 MP): Pillow warns at open; with filterwarnings=error in the
    # pytest config an escaping warning would fail this test.
    error = rejected(png_declaring(10_000, 10_000), max_pixels=10**9)
    assert error.reason == "too_many_pixels"
    assert allocations == []


# ----------------------------------------------------------------------------------------------------------
# Camera photos: size, orientation, GPS, reduced decoding


def test_phone_photo_is_resized_upright_and_stripped(phone_photo: bytes) -> None:
    result = process_photo(phone_photo)
    assert (result.source_width, result.source_height) == (2000, 1500)
    assert (result.width, result.height) == (1200, 1600)  # portrait after Orientation=6
    assert (result.thumb_width, result.thumb_height) == (240, 320)
    display = assert_clean_jpeg(result.display, max_edge=1600)
    assert_clean_jpeg(result.thumbnail, max_edge=320)
    with Image.open(io.BytesIO(phone_photo)) as original:
        reference = ImageOps.exif_transpose(original).resize(display.size, Image.Resampling.LANCZOS)
    assert mean_difference(display, reference) < 3
    lat, lon = result.gps  # type: ignore[misc]
    assert lat == pytest.approx(37 + 51 / 60 + 36 / 3600, abs=1e-6)  # 37°51'36" N
    assert 112.55 <= lon < 112.55 + 1 / 3600  # 112°33'0.x" E
    assert result.taken_at is None  # the generator writes no DateTimeOriginal
    assert b"GPS" not in result.display and b"ExampleCam" not in result.display


def test_big_jpegs_are_decoded_at_reduced_scale(phone_photo: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str | None, tuple[int, int] | None, tuple[int, int]]] = []
    original_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):  # type: ignore[no-untyped-def]
        outcome = original_draft(self, mode, size)
        calls.append((mode, size, self.size))
        return outcome

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    result = process_photo(phone_photo, display_edge=800, thumb_edge=200)
    # 2000x1500 for an 800 px display: request 800x600; libjpeg decodes at 1/2 scale, 1000x750.
    assert calls == [("RGB", (800, 600), (1000, 750))]
    assert (result.width, result.height) == (600, 800)
    assert (result.thumb_width, result.thumb_height) == (150, 200)

    calls.clear()
    process_photo(read("flower.jpg"))  # already small: no draft
    assert calls == []


def test_list_thumbnails_are_sampled_then_averaged(phone_photo: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """From a reduction of 6 up, the thumbnail is sampled from the display copy at most 1.5 px apart and the samples
    are averaged with reduce(); it stays close to the exact area average. Smaller reductions keep the two-step
    shrink."""
    reductions: list[object] = []
    original_reduce = Image.Image.reduce

    def spy(self, factor, box=None):  # type: ignore[no-untyped-def]
        reductions.append(factor)
        return original_reduce(self, factor, box)

    monkeypatch.setattr(Image.Image, "reduce", spy)
    result = process_photo(phone_photo, thumb_edge=160, thumb_quality=60)
    assert (result.width, result.height) == (1200, 1600)
    assert (result.thumb_width, result.thumb_height) == (120, 160)
    # The display copy: libjpeg's draft did the reduction. The thumbnail: a reduction of 10, so 7x7 samples per
    # pixel (840x1120 samples, 1.43 px apart), averaged by reduce(7).
    assert reductions == [7]
    display = Image.open(io.BytesIO(result.display))
    exact = display.resize((120, 160), Image.Resampling.BOX)  # the exact area average of the display copy
    assert mean_difference(pipeline._thumbnail(display, 160), exact) < 1  # before JPEG encoding: 0.3 levels

    reductions.clear()
    result = process_photo(phone_photo)  # 1200x1600 to 240x320: a reduction of 5
    assert (result.thumb_width, result.thumb_height) == (240, 320)
    assert reductions == [5]  # the two-step shrink: reduce(5), then a box resample (none needed here)


@pytest.mark.parametrize("period", [2.0, 2.2, 2.6, 3.0, 4.0, 6.0])
def test_thumbnail_of_a_fine_grating_stays_near_grey(period: float) -> None:
    """Samples 1.5 px apart can alias a grating finer than 3 px; the thumbnail of the 1200 px copy swings by less
    than half the grating's contrast (the exact area average itself swings by up to a third)."""
    row = [round(127.5 + 127.5 * math.cos(2 * math.pi * x / period)) for x in range(1200)]
    grating = Image.new("L", (1200, 900))
    grating.putdata(row * 900)
    result = process_photo(encode(grating, "PNG"), thumb_edge=160)
    low, high = Image.open(io.BytesIO(result.thumbnail)).convert("L").getextrema()
    assert (high - low) / 2 < 0.5 * 127.5


def test_png_exif_orientation_is_applied() -> None:
    picture = Image.new("RGB", (60, 30), "red")
    picture.paste((0, 0, 255), (30, 0, 60, 30))
    exif = Image.Exif()
    exif[0x0112] = 8
    result = process_photo(encode(picture, "PNG", exif=exif.tobytes()))
    display = assert_clean_jpeg(result.display, max_edge=1600)
    assert display.size == (30, 60)
    assert (
        mean_difference(
            display,
            ImageOps.exif_transpose(Image.open(io.BytesIO(encode(picture, "PNG", exif=exif.tobytes())))),
        )
        < 4
    )


@pytest.mark.skipif(not pipeline.HEIF_SUPPORTED, reason="pillow-heif not installed")
def test_heif_orientation_is_applied() -> None:
    picture = Image.new("RGB", (64, 32), "red")
    picture.paste((0, 0, 255), (32, 0, 64, 32))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(picture, "HEIF", exif=exif.tobytes())
    display = Image.open(io.BytesIO(process_photo(data).display))
    assert display.size == (32, 64)
    assert mean_difference(display, picture.transpose(Image.Transpose.ROTATE_270)) < 8


def test_avif_follows_avif_supported() -> None:
    picture = Image.new("RGB", (48, 32), (10, 120, 200))
    try:
        data = encode(picture, "AVIF")
    except (KeyError, OSError):
        pytest.skip("this Pillow cannot write AVIF")
    assert sniff_format(data) == "AVIF"
    if pipeline.AVIF_SUPPORTED:
        result = process_photo(data)
        assert (result.source_format, result.width, result.height) == ("AVIF", 48, 32)
    else:
        assert rejected(data).format_name == "AVIF"


def test_mpo_from_phones_is_accepted_as_jpeg() -> None:
    picture = Image.open(IMAGES / "flower.jpg")
    data = encode(picture, "MPO", save_all=True, append_images=[picture.copy()])
    result = process_photo(data)
    assert result.source_format == "JPEG"
    assert_clean_jpeg(result.display, max_edge=1600)


# ----------------------------------------------------------------------------------------------------------
# Modes, transparency, colour profiles


def test_transparent_png_is_composited_onto_white() -> None:
    picture = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    picture.paste((200, 0, 0, 255), (0, 0, 20, 20))
    display = assert_clean_jpeg(process_photo(encode(picture, "PNG")).display, max_edge=1600)
    assert min(display.getpixel((35, 10))) > 245  # transparent -> white
    red, green, _ = display.getpixel((5, 10))
    assert red > 180 and green < 30


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_palette_and_alpha_variants(fmt: str) -> None:
    picture = Image.new("P", (30, 30), 1)
    picture.putpalette([0, 0, 0, 0, 128, 0] + [0] * 762)
    picture.paste(0, (0, 0, 15, 30))
    if fmt == "WEBP":  # WebP has no palette: the same picture as RGBA with lossless alpha
        picture.info["transparency"] = 0
        data = encode(picture.convert("RGBA"), fmt, lossless=True)
    else:
        data = encode(picture, fmt, transparency=0)
    display = assert_clean_jpeg(process_photo(data).display, max_edge=1600)
    assert min(display.getpixel((5, 15))) > 245
    assert display.getpixel((25, 15))[1] > 100


def test_animated_gif_keeps_the_first_frame() -> None:
    frames = [Image.new("RGB", (20, 20), colour) for colour in ("red", "blue")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    display = assert_clean_jpeg(process_photo(data).display, max_edge=1600)
    red, _, blue = display.getpixel((10, 10))
    assert red > 200 and blue < 50


@pytest.mark.parametrize(
    ("picture", "expected"),
    [
        (Image.new("I;16", (16, 16), 65535), 255),
        (Image.new("I;16", (16, 16), 32896), 128),
        (Image.new("1", (16, 16), 1), 255),
        (Image.new("LA", (16, 16), (60, 255)), 60),
        (Image.new("LA", (16, 16), (60, 0)), 255),
    ],
    ids=["I16-white", "I16-mid", "1-bit", "LA-opaque", "LA-transparent"],
)
def test_greyscale_modes_are_scaled_not_clipped(picture: Image.Image, expected: int) -> None:
    display = assert_clean_jpeg(process_photo(encode(picture, "PNG")).display, max_edge=1600)
    assert all(abs(channel - expected) <= 2 for channel in display.getpixel((8, 8)))


def _srgb_profile_with_red_and_green_swapped() -> bytes:
    """sRGB with red and green primaries exchanged (and renamed): RGB (255, 0, 0) in it means sRGB green."""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    (count,) = struct.unpack(">I", icc[128:132])
    entries = {bytes(icc[132 + 12 * i : 136 + 12 * i]): 132 + 12 * i for i in range(count)}
    red, green = entries[b"rXYZ"], entries[b"gXYZ"]
    icc[red + 4 : red + 12], icc[green + 4 : green + 12] = (
        icc[green + 4 : green + 12],
        icc[red + 4 : red + 12],
    )
    icc[entries[b"desc"] + 4 : entries[b"desc"] + 12] = icc[entries[b"cprt"] + 4 : entries[b"cprt"] + 12]
    return bytes(icc)


def test_icc_profile_is_applied_then_dropped() -> None:
    picture = Image.new("RGB", (16, 16), (255, 0, 0))
    data = encode(picture, "JPEG", quality=95, icc_profile=_srgb_profile_with_red_and_green_swapped())
    display = assert_clean_jpeg(process_photo(data).display, max_edge=1600)
    red, green, _ = display.getpixel((8, 8))
    assert green > 200 and red < 60


@pytest.mark.parametrize(
    "icc",
    [b"not a profile at all", ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()],
    ids=["garbage", "srgb"],
)
def test_unusable_or_srgb_profiles_leave_colours_alone(icc: bytes) -> None:
    picture = Image.new("RGB", (16, 16), (200, 30, 30))
    for source in (picture, picture.convert("L")):  # an RGB profile on a grey image does not fit either
        data = encode(source, "JPEG", quality=95, icc_profile=icc)
        display = assert_clean_jpeg(process_photo(data).display, max_edge=1600)
        assert mean_difference(display, source) < 3


def test_text_chunks_and_comments_are_dropped() -> None:
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "home address: 1 Secret Lane")
    for data in (
        encode(Image.new("RGB", (8, 8)), "PNG", pnginfo=text),
        encode(Image.new("RGB", (8, 8)), "JPEG", comment=b"home address: 1 Secret Lane"),
    ):
        result = process_photo(data)
        assert b"Secret Lane" not in result.display and b"Secret Lane" not in result.thumbnail


# ----------------------------------------------------------------------------------------------------------
# EXIF parsing


R = TiffImagePlugin.IFDRational


def dms(degrees: float, minutes: float, seconds: float) -> tuple[R, R, R]:
    return (R(degrees), R(minutes), R(seconds))


@pytest.mark.parametrize(
    ("gps_ifd", "expected"),
    [
        ({1: "N", 2: dms(37, 51, 36), 3: "E", 4: dms(112, 33, 0)}, (37.86, 112.55)),
        ({1: "S", 2: dms(33, 52, 4.8), 3: "W", 4: dms(70, 40, 12)}, (-33.868, -70.67)),
        ({1: b"N\x00", 2: dms(39, 54, 0), 3: b"E\x00", 4: dms(116, 23, 24)}, (39.9, 116.39)),
        ({1: "N", 2: (R(3786, 100), R(0), R(0)), 3: "E", 4: (R(11255, 100), R(0), R(0))}, (37.86, 112.55)),
        (
            {1: "N", 2: (R(37), R(516, 10)), 3: "E", 4: (R(112), R(33))},
            (37.86, 112.55),
        ),  # degrees, decimal minutes
        (
            {1: "N", 2: R(3786, 100), 3: "E", 4: R(11255, 100)},
            (37.86, 112.55),
        ),  # single decimal-degree values
        ({2: dms(37, 51, 36), 4: dms(112, 33, 0)}, (37.86, 112.55)),  # refs missing: N/E assumed
        ({1: "N", 2: dms(0, 0, 0), 3: "E", 4: dms(0, 0, 0)}, None),  # (0, 0): a GPS chip without a fix
        ({1: "N", 2: (R(37, 0), R(51), R(36)), 3: "E", 4: dms(112, 33, 0)}, None),  # zero denominator
        ({1: "N", 2: (float("nan"), 0.0, 0.0), 3: "E", 4: dms(112, 33, 0)}, None),
        ({1: "N", 2: dms(91, 0, 0), 3: "E", 4: dms(112, 33, 0)}, None),
        ({1: "N", 2: dms(37, 0, 0), 3: "E", 4: dms(181, 0, 0)}, None),
        ({1: "N", 2: dms(37, 61, 0), 3: "E", 4: dms(112, 33, 0)}, None),  # minutes >= 60
        ({1: "N", 2: dms(-37, 0, 0), 3: "E", 4: dms(112, 33, 0)}, None),
        ({1: "X", 2: dms(37, 51, 36), 3: "E", 4: dms(112, 33, 0)}, None),
        ({1: "N", 2: dms(37, 51, 36)}, None),  # no longitude
        ({1: "N", 2: "37 deg 51' 36\"", 3: "E", 4: dms(112, 33, 0)}, None),
        ({1: "N", 2: (R(1), R(2), R(3), R(4)), 3: "E", 4: dms(112, 33, 0)}, None),
        ({1: "N", 2: R(4294967295), 5: b"\x01"}, None),  # what exif_gps.jpg holds
        ({}, None),
    ],
)
def test_parse_gps(gps_ifd: dict[int, object], expected: tuple[float, float] | None) -> None:
    result = pipeline.parse_gps(gps_ifd)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(
    ("lat_ref", "lon_ref", "signs"), [("N", "E", (1, 1)), ("S", "W", (-1, -1)), ("S", "E", (-1, 1))]
)
def test_gps_survives_a_real_exif_block(lat_ref: str, lon_ref: str, signs: tuple[int, int]) -> None:
    exif = Image.Exif()
    exif[0x8825] = {1: lat_ref, 2: (22.0, 32.0, 24.0), 3: lon_ref, 4: (114.0, 3.0, 36.0)}
    exif[0x8769] = {0x9003: "2025:05:01 08:30:00"}
    result = process_photo(encode(Image.open(IMAGES / "flower.jpg"), "JPEG", exif=exif.tobytes()))
    assert result.gps == pytest.approx((signs[0] * 22.54, signs[1] * 114.06), abs=1e-6)
    assert result.taken_at == datetime(2025, 5, 1, 8, 30)
    assert_clean_jpeg(result.display, max_edge=1600)


def test_broken_exif_never_rejects_a_photo() -> None:
    # An IFD announcing 65535 entries in a 10-byte block.
    data = encode(Image.open(IMAGES / "flower.jpg"), "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff")
    result = process_photo(data)
    assert (result.gps, result.taken_at) == (None, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024:03:05 17:45:09", datetime(2024, 3, 5, 17, 45, 9)),
        ("2024:03:05 17:45:09\x00", datetime(2024, 3, 5, 17, 45, 9)),
        (b"2024:03:05 17:45:09", datetime(2024, 3, 5, 17, 45, 9)),
        ("2024-03-05 17:45:09", datetime(2024, 3, 5, 17, 45, 9)),
        ("0000:00:00 00:00:00", None),
        ("1999:99:99 99:99:99", None),
        ("    :  :     :  :  ", None),
        ("", None),
        (None, None),
        (20240305, None),
    ],
)
def test_parse_exif_datetime(value: object, expected: datetime | None) -> None:
    assert pipeline.parse_exif_datetime(value) == expected


# ----------------------------------------------------------------------------------------------------------
# Perceptual hash


def test_phash_is_stable_across_reencoding_and_tells_pictures_apart() -> None:
    hashes = {}
    for name in ("flower.jpg", "flower2.jpg", "hopper.png"):
        original = Image.open(IMAGES / name).convert("RGB")
        hashes[name] = process_photo(read(name)).phash
        for quality in (35, 60, 95):
            again = process_photo(encode(original, "JPEG", quality=quality)).phash
            assert hamming_distance(hashes[name], again) <= 6, (name, quality)
        smaller = original.resize((original.width * 2 // 3, original.height * 2 // 3), Image.Resampling.BICUBIC)
        assert hamming_distance(hashes[name], process_photo(encode(smaller, "PNG")).phash) <= 6
    names = list(hashes)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert hamming_distance(hashes[a], hashes[b]) > 10, (a, b)


def test_phash_of_upright_and_rotated_copies_match(phone_photo: bytes) -> None:
    # The hash is taken after the orientation is applied, so the same scene sent with or without EXIF rotation
    # gets (nearly) the same hash.
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(phone_photo)))
    a = process_photo(phone_photo).phash
    b = process_photo(encode(upright, "JPEG", quality=85)).phash
    assert hamming_distance(a, b) <= 6


def test_dhash_bit_layout() -> None:
    brighter_to_the_right = Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90)
    assert brighter_to_the_right.getpixel((0, 100)) < brighter_to_the_right.getpixel((255, 100))
    assert pipeline.dhash(brighter_to_the_right) == "ffffffffffffffff"
    assert pipeline.dhash(brighter_to_the_right.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) == "0000000000000000"
    top_half_only = Image.new("L", (90, 80), 0)
    top_half_only.paste(Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90).resize((90, 40)), (0, 0))
    assert pipeline.dhash(top_half_only) == "ffffffff00000000"  # rows first, most significant bit first
    assert pipeline.dhash(Image.new("RGB", (50, 50), "grey")) == "0000000000000000"


def test_hamming_distance() -> None:
    assert hamming_distance("0000000000000000", "0000000000000000") == 0
    assert hamming_distance("ffffffffffffffff", "0000000000000000") == 64
    assert hamming_distance("8000000000000001", "0000000000000000") == 2
    assert hamming_distance("ABCDEF0123456789", "abcdef0123456789") == 0
    with pytest.raises(ValueError):
        hamming_distance("00", "0000")
    with pytest.raises(ValueError):
        hamming_distance("zz", "00")


# ----------------------------------------------------------------------------------------------------------
# API details


def test_sniff_format_of_the_stored_images() -> None:
    expected = {".jpg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".heif": "HEIF", ".gif": "GIF"}
    for name in EXPECTED:
        assert sniff_format(read(name)) == expected[Path(name).suffix], name
    assert sniff_format(b"") is None
    assert sniff_format(b"\x00\x01\x02\x03\x04") is None
    assert sniff_format(bytearray(b"\x89PNG\r\n\x1a\n")) == "PNG"


def test_photo_rejected_carries_its_fields() -> None:
    error = PhotoRejected("unsupported", detail="an SVG", format_name="SVG")
    assert (error.reason, error.detail, error.format_name) == ("unsupported", "an SVG", "SVG")
    assert "unsupported" in str(error)
    assert PhotoRejected("empty").format_name is None
    with pytest.raises(ValueError):
        PhotoRejected("exploded")


def test_pipeline_module_has_no_flask_imports() -> None:
    source = Path(pipeline.__file__).read_text(encoding="utf-8")
    assert not re.search(r"^\s*(from|import)\s+flask", source, re.MULTILINE)


# ----------------------------------------------------------------------------------------------------------
# Fuzz: whatever arrives, the answer is a ProcessedPhoto or a PhotoRejected


def _outcome(data: bytes) -> str:
    try:
        result = process_photo(data)
    except PhotoRejected as error:
        return error.reason
    assert isinstance(result, ProcessedPhoto)
    assert_clean_jpeg(result.display, max_edge=1600)
    return "accept"


def test_fuzz_truncations_and_bit_flips_of_every_stored_image() -> None:
    rng = random.Random(1234)
    outcomes = set()
    for name in EXPECTED:
        data = read(name)
        lengths = sorted({1, 2, 3, 8, 16, 32, 100, len(data) // 3, len(data) // 2, len(data) - 10, len(data) - 1})
        for length in (n for n in lengths if 0 < n < len(data)):
            outcomes.add(_outcome(data[:length]))
        for _ in range(12):
            damaged = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                damaged[rng.randrange(min(len(damaged), 600))] = rng.randrange(256)
            outcomes.add(_outcome(bytes(damaged)))
    assert "corrupt" in outcomes and "unsupported" in outcomes


def test_fuzz_random_bytes_behind_every_accepted_magic() -> None:
    rng = random.Random(99)
    magics = [
        b"\xff\xd8\xff",
        b"\xff\xd8\xff\xdb\x00\x43\x00",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"GIF87a",
        b"GIF89a\x10\x00\x10\x00",
        b"RIFF\x24\x00\x00\x00WEBPVP8L",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf",
    ]
    for magic in magics:
        for size in (0, 1, 7, 64, 500, 5000):
            _outcome(magic + rng.randbytes(size))


def test_fuzz_pure_random_bytes() -> None:
    rng = random.Random(7)
    for _ in range(200):
        _outcome(rng.randbytes(rng.choice([1, 2, 3, 5, 12, 100, 1000])))


def test_processing_is_deterministic() -> None:
    data = read("flower.jpg")
    first, second = process_photo(data), process_photo(data)
    assert first == second
    assert math.isclose(first.width / first.height, 480 / 360)
