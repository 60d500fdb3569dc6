"""Everything the app does with image bytes: check an uploaded photo, read its EXIF, make the stored copies.

``process_photo`` is the only entry point the rest of the app needs. It never trusts the file name or the
Content-Type: the first bytes decide the format, and only raster photo formats are handed to Pillow (with the
decoder pinned to that one format, so Pillow cannot fall back to EPS, PSD, TIFF or any other plugin):

* accepted: JPEG (also MPO, the multi-picture JPEG some phones write), PNG (first frame of an APNG), WebP,
  GIF (first frame), HEIF/HEIC when ``pillow_heif`` is importable (``HEIF_SUPPORTED``), AVIF when Pillow was
  built with libavif (``AVIF_SUPPORTED``);
* everything else (SVG, PDF, HTML, text, TIFF, BMP, video, unknown bytes, ...) is
  ``PhotoRejected("unsupported")``.

Resource limits: the byte size is checked before anything is parsed, the pixel count is checked from the
header before any pixel is decoded, and Pillow's own decompression-bomb guard is turned into an error, so a
small file declaring an enormous canvas never gets one allocated. Big camera JPEGs are decoded at 1/2, 1/4 or
1/8 scale (libjpeg's DCT scaling, ``Image.draft``), which is most of why this is several times faster than
opening, rotating and shrinking the full image.

The stored copies are baseline JPEGs in sRGB, upright (the EXIF orientation is applied to the already small
image) and carry no metadata at all: no EXIF (so no GPS), no ICC profile, no XMP, no Photoshop block, no
comment. The GPS position and capture time are read from the original and returned separately; the caller
decides what to do with them.

Pillow's ``DecompressionBombWarning`` is turned into an error with ``warnings.catch_warnings``, which swaps
the process-wide warning filters while ``process_photo`` runs. Pillow's data-dependent ``UserWarning``s about
odd input (corrupt EXIF, palette transparency, ...) are ignored in that window as well; they say nothing the
result does not already say. This module imports neither Flask nor Flask-Babel: messages for people belong to
the caller, ``PhotoRejected.detail`` is English for logs.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from typing import Any

# Import (and so register) the decoders up front, once per worker, instead of inside the first upload;
# TiffImagePlugin is Pillow's EXIF parser.
from PIL import (  # noqa: F401
    GifImagePlugin,
    Image,
    ImageCms,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

log = logging.getLogger(__name__)

try:  # HEIF/HEIC is what iPhones write; the decoder is an optional native dependency.
    import pillow_heif

    # Depth maps and auxiliary images (portrait mode) are never used; skipping them saves memory and time.
    pillow_heif.register_heif_opener(depth_images=False, aux_images=False)
    HEIF_SUPPORTED: bool = True
except (ImportError, OSError):  # pragma: no cover - depends on the installation
    HEIF_SUPPORTED = False

try:
    from PIL import AvifImagePlugin

    AVIF_SUPPORTED: bool = bool(AvifImagePlugin.SUPPORTED)
except ImportError:  # pragma: no cover - Pillow < 11.2
    AVIF_SUPPORTED = False

REASONS = frozenset({"empty", "too_large", "too_many_pixels", "unsupported", "corrupt"})
#: How each rejection answers over HTTP (status, code, message): ``webapp.photos.rejections``.
#: Formats ``process_photo`` hands to Pillow (names as returned by ``sniff_format``).
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "HEIF", "AVIF"})

_ORIENTATION_TAG = 0x0112
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATETIME_ORIGINAL = 0x9003

# EXIF Orientation -> the transpose that makes the picture upright (the table of ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class PhotoRejected(Exception):
    """The upload is not a photo the app accepts.

    ``reason`` is one of ``"empty"``, ``"too_large"``, ``"too_many_pixels"``, ``"unsupported"``,
    ``"corrupt"``; ``detail`` is English, for logs; ``format_name`` is what the bytes looked like (``"SVG"``,
    ``"HEIF"``, ``"TEXT"``, ... as returned by ``sniff_format``) when known.
    """

    def __init__(self, reason: str, *, detail: str = "", format_name: str | None = None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown rejection reason: {reason!r}")
        self.reason = reason
        self.detail = detail
        self.format_name = format_name
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True)
class ProcessedPhoto:
    display: bytes = field(repr=False)  # JPEG, long edge <= display_edge, sRGB, upright, no metadata
    thumbnail: bytes = field(repr=False)  # JPEG, long edge <= thumb_edge, same rules
    width: int  # of display
    height: int
    thumb_width: int
    thumb_height: int
    phash: str  # dHash (see ``dhash``) of the display image, 16 lowercase hex digits
    gps: tuple[float, float] | None  # (lat, lon), WGS84 decimal degrees, from EXIF; None when absent/invalid
    taken_at: datetime | None  # EXIF DateTimeOriginal, naive, as the camera wrote it; not range-checked
    source_format: str  # "JPEG", "PNG", "WEBP", "GIF", "HEIF", "AVIF"
    source_width: int  # as Pillow reports the file, before the EXIF orientation is applied
    source_height: int


# ----------------------------------------------------------------------------------------------------------
# Format sniffing


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"%PDF-", "PDF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"8BPS", "PSD"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG2000"),
    (b"\xff\x4f\xff\x51", "JPEG2000"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JXL"),
    (b"\xff\x0a", "JXL"),
    (b"qoif", "QOI"),
    (b"%!PS", "POSTSCRIPT"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"PK\x03\x04", "ZIP"),
    (b"\x1f\x8b", "GZIP"),
    (b"Rar!\x1a\x07", "RAR"),
    (b"7z\xbc\xaf\x27\x1c", "7Z"),
    (b"\x7fELF", "ELF"),
    (b"\x1a\x45\xdf\xa3", "WEBM"),
)
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_CONTAINER_BRANDS = frozenset({b"mif1", b"msf1", b"mif2", b"miaf"})
_VIDEO_BRANDS = {b"qt  ": "MOV", b"crx ": "CR3"}
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
# Bytes that do not occur in text files (NUL, most C0 controls, DEL); TAB, LF, FF, CR and ESC are allowed.
_BINARY_BYTES = frozenset(set(range(0x00, 0x09)) | {0x0B} | set(range(0x0E, 0x1B)) | set(range(0x1C, 0x20)) | {0x7F})


def _sniff_iso_bmff(data: bytes) -> str | None:
    """HEIF, AVIF and video files share the ISO base media file format: look at the ftyp brands."""
    major = data[8:12]
    box_size = int.from_bytes(data[0:4], "big")
    end = min(box_size, len(data), 512) if box_size >= 16 else 16
    brands = {major} | {data[i : i + 4] for i in range(16, end - 3, 4)}
    if major in _HEIF_BRANDS:
        return "HEIF"
    if major in _AVIF_BRANDS:
        return "AVIF"
    if major in _HEIF_CONTAINER_BRANDS:
        if brands & _HEIF_BRANDS:
            return "HEIF"
        if brands & _AVIF_BRANDS:
            return "AVIF"
        return "HEIF"  # a HEIF container with some other codec; pillow-heif decides whether it can decode it
    if major in _VIDEO_BRANDS:
        return _VIDEO_BRANDS[major]
    if brands & (_HEIF_BRANDS | _AVIF_BRANDS):  # an odd major brand, but the file says it is an image too
        return "HEIF" if brands & _HEIF_BRANDS else "AVIF"
    return "MP4"


def _sniff_text(data: bytes) -> str | None:
    head = data[:4096]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if any(byte in _BINARY_BYTES for byte in head):
        return None
    markup = head.lstrip().lower()
    if markup.startswith(b"<"):
        if b"<svg" in markup:
            return "SVG"
        if b"<html" in markup or b"<!doctype html" in markup:
            return "HTML"
        if markup.startswith(b"<?xml"):
            return "XML"
    return "TEXT"  # any encoding: UTF-8, GB18030, Latin-1, ...


def sniff_format(data: bytes) -> str | None:
    """Name the format of ``data`` from its first bytes, or None if the bytes match nothing known.

    Image formats use Pillow's names ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "PSD", "JPEG2000", ...)
    plus "HEIF" and "AVIF"; others are "SVG", "PDF", "HTML", "XML", "TEXT", "ZIP", "MP4", "MOV", ... Only the
    magic bytes are looked at, never the file name; this is a fast pre-check, not a validation.
    """
    data = bytes(data[:4096])
    if not data:
        return None
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and len(data) >= 12:
        return {b"WEBP": "WEBP", b"WAVE": "WAV", b"AVI ": "AVI"}.get(data[8:12])
    if data[4:8] == b"ftyp" and len(data) >= 12:
        return _sniff_iso_bmff(data)
    if data[:2] == b"BM" and len(data) >= 18 and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES:
        return "BMP"
    if data[:4] in (b"\x00\x00\x01\x00", b"\x00\x00\x02\x00") and len(data) >= 6 and data[4:6] != b"\x00\x00":
        return "ICO"
    return _sniff_text(data)


# ----------------------------------------------------------------------------------------------------------
# EXIF


def _ref(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return "?"
    return value.strip("\x00 ").upper()


def _degrees(value: Any) -> float | None:
    """EXIF GPS coordinate (degrees, minutes, seconds rationals; or fewer parts; or one number) -> degrees."""
    parts = value if isinstance(value, (tuple, list)) else (value,)
    if not 1 <= len(parts) <= 3:
        return None
    try:
        numbers = [float(part) for part in parts]
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    if not all(math.isfinite(n) and n >= 0 for n in numbers):  # IFDRational(x, 0) is NaN
        return None
    if any(n >= 60 for n in numbers[1:]):
        return None
    return sum(n / 60**i for i, n in enumerate(numbers))


def parse_gps(gps_ifd: Mapping[int, Any]) -> tuple[float, float] | None:
    """(lat, lon) in signed decimal degrees from an EXIF GPS IFD, or None when absent or not believable.

    Tags 1/2 are GPSLatitudeRef/GPSLatitude, 3/4 GPSLongitudeRef/GPSLongitude. A missing ref counts as N or E
    (some writers leave it out); an unknown ref, a zero denominator, NaN, minutes or seconds >= 60, a value
    out of range, or exactly (0, 0) (what broken GPS chips write) give None.
    """
    if 2 not in gps_ifd or 4 not in gps_ifd:
        return None
    lat, lon = _degrees(gps_ifd[2]), _degrees(gps_ifd[4])
    if lat is None or lon is None:
        return None
    lat_ref, lon_ref = _ref(gps_ifd.get(1, "N")), _ref(gps_ifd.get(3, "E"))
    if lat_ref not in ("N", "S", "") or lon_ref not in ("E", "W", ""):
        return None
    lat = -lat if lat_ref == "S" else lat
    lon = -lon if lon_ref == "W" else lon
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return lat, lon


def parse_exif_datetime(value: Any) -> datetime | None:
    """EXIF "YYYY:MM:DD HH:MM:SS" (trailing NULs/spaces, dashed date tolerated) -> naive datetime or None."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    text = value.strip("\x00 ")[:19]
    for pattern in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


def _read_exif(im: Image.Image) -> tuple[int, tuple[float, float] | None, datetime | None]:
    """Orientation (1..8), GPS and DateTimeOriginal. Broken EXIF never rejects a photo; it yields nothing."""
    try:
        exif = im.getexif()
    except Exception:  # Pillow's EXIF parser on hostile bytes can raise nearly anything
        log.debug("unreadable EXIF", exc_info=True)
        return 1, None, None
    orientation = exif.get(_ORIENTATION_TAG, 1)
    if not isinstance(orientation, int) or orientation not in range(1, 9):
        orientation = 1
    gps = taken_at = None
    try:
        gps = parse_gps(exif.get_ifd(_GPS_IFD))
    except Exception:
        log.debug("unreadable EXIF GPS IFD", exc_info=True)
    try:
        taken_at = parse_exif_datetime(exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL))
    except Exception:
        log.debug("unreadable EXIF sub-IFD", exc_info=True)
    return orientation, gps, taken_at


# ----------------------------------------------------------------------------------------------------------
# Pixels


def _fit(size: tuple[int, int], edge: int) -> tuple[int, int]:
    """``size`` scaled so its long edge is ``edge`` (never enlarged, never 0)."""
    width, height = size
    long_edge = max(width, height)
    if long_edge <= edge:
        return size
    return max(1, round(width * edge / long_edge)), max(1, round(height * edge / long_edge))


#: JPEG quality of the display copy. Phones send photos already downscaled at quality ~70 (README, Offline capture);
#: re-encoding those at 80 made the copy larger than the upload (139 KB from 121 KB) and no closer to it than 75 does
#: (47.9 against 47.8 dB PSNR), which keeps it smaller than the upload (124 KB) for the residents' phones that load it.
DISPLAY_QUALITY = 75

#: At most this many pixels between two samples when a thumbnail is sampled from the display copy (``_thumbnail``).
_THUMB_SAMPLE_STRIDE = 1.5


def _shrink(im: Image.Image, edge: int) -> Image.Image:
    """Scale ``im`` so its long edge is at most ``edge``, in two steps.

    First an integer reduction to the smallest size that is still at least the target (area averaging with
    ``Image.reduce``; for JPEGs ``draft`` has already done this step inside libjpeg), then an area-averaging
    (box) resample of the remaining factor, which is always below 2. Measured on the 12 MP benchmark photo, the
    display copy differs from "full decode + Lanczos" by 44 dB PSNR (invisible, and well below what the JPEG
    encoder at ``DISPLAY_QUALITY`` changes); the box filter costs three quarters of a bilinear one (47 dB) for that last
    step, which after the decoding itself was the pipeline's largest cost.
    """
    target = _fit(im.size, edge)
    if target == im.size:
        return im
    factor = min(im.width // target[0], im.height // target[1])
    if factor >= 2:
        im = im.reduce(factor)  # premultiplies alpha for RGBA/LA, so transparent pixels do not bleed
    if im.size != target:
        im = im.resize(target, Image.Resampling.BOX)
    return im


def _thumbnail(im: Image.Image, edge: int) -> Image.Image:
    """The thumbnail, made from the display copy: like ``_shrink``, but cheaper for big reductions.

    ``_shrink`` reads every pixel. ``reduce`` has fast paths for factors 2 to 5, but the 1200 px display copy of a
    phone's photo needs a reduction of 7.5 for a 160 px list thumbnail, and ``reduce(7)`` cost more than half as
    much as encoding the display copy. So from a reduction of 6 up, the display copy is first sampled (nearest
    neighbour) at most ``_THUMB_SAMPLE_STRIDE`` pixels apart and ``reduce`` averages each block of samples: for
    that thumbnail 5x5 samples of each 7.5x7.5 pixels (44 % of them) at 57 % of the instructions. Samples 1.5 px
    apart can alias a grating finer than 3 px: on cosine gratings of 2 to 8 px the thumbnail swings by at most
    45 % of the grating's contrast, where the exact area average (``reduce(7)`` and a box resample) swings by up
    to 31 %; on photos the two differ by 0.3 levels on average.
    """
    target = _fit(im.size, edge)
    factor = min(im.width / target[0], im.height / target[1])
    if factor < 6:
        return _shrink(im, edge)
    samples = math.ceil(factor / _THUMB_SAMPLE_STRIDE)
    sampled = im.resize((target[0] * samples, target[1] * samples), Image.Resampling.NEAREST)
    return sampled.reduce(samples)


def _resizable(im: Image.Image) -> Image.Image:
    """Bring exotic modes to one of RGB, RGBA, L, LA, CMYK (which resize and ImageCms handle)."""
    mode = im.mode
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return im
    if mode == "1":
        return im.convert("L")
    if mode in ("P", "PA"):
        return im.convert("RGBA" if mode == "PA" or im.has_transparency_data else "RGB")
    if mode.startswith("I") or mode == "F":
        # 16-bit (or wider) greyscale: scale to 8 bits instead of clipping everything above 255 to white.
        wide = im.convert("I") if mode.startswith("I;16") else im
        if wide.mode == "F":
            return wide.point(lambda v: v * 255).convert("L")
        return wide.point(lambda v: v * (1 / 257), "L")
    if mode == "La":
        return im.convert("LA")
    if mode in ("RGBa", "RGBX"):
        return im.convert("RGBA" if mode == "RGBa" else "RGB")
    return im.convert("RGB")  # YCbCr, LAB, HSV; raises ValueError for modes Pillow cannot convert


_srgb_profile: ImageCms.ImageCmsProfile | None = None


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Apply the embedded ICC profile (Display P3, Adobe RGB, a CMYK press profile, ...) to get sRGB."""
    global _srgb_profile
    if not icc or not isinstance(icc, bytes):
        return im
    try:
        source = ImageCms.ImageCmsProfile(BytesIO(icc))
        space = source.profile.xcolor_space.strip()
        if {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}.get(space) != im.mode:
            return im  # the profile does not describe these pixels: ignore it
        if space == "RGB" and source.profile.profile_description.startswith("sRGB"):
            return im  # already sRGB (the common case); skip building a transform
        if _srgb_profile is None:
            _srgb_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        converted = ImageCms.profileToProfile(im, source, _srgb_profile, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError, AttributeError):
        log.debug("ignoring an unusable ICC profile", exc_info=True)
        return im
    return converted if converted is not None else im


def _flatten(im: Image.Image) -> Image.Image:
    """Composite transparent pixels onto white (RGBA -> RGB, LA -> L)."""
    if im.mode not in ("RGBA", "LA"):
        return im
    base = "RGB" if im.mode == "RGBA" else "L"
    background = Image.new(base, im.size, (255, 255, 255) if base == "RGB" else 255)
    background.paste(im, mask=im.getchannel("A"))
    return background


def _encode(im: Image.Image, quality: int) -> bytes:
    out = BytesIO()
    # Only the pixels are passed on: no exif/icc_profile/xmp/comment keywords, and ``info`` is empty, so
    # Pillow writes nothing but the JFIF header, tables and scan.
    im.save(out, "JPEG", quality=quality, optimize=False, progressive=False)
    return out.getvalue()


def dhash(im: Image.Image) -> str:
    """64-bit difference hash of ``im`` as 16 lowercase hex digits.

    Greyscale, box-resampled to 9x8; a bit is 1 where a pixel is brighter than its left neighbour. Bits go row
    by row, left to right, most significant first (the layout of imagehash.dhash).
    """
    small = im.convert("L").resize((9, 8), Image.Resampling.BOX)
    pixels = small.tobytes()
    bits = 0
    for row in range(8):
        for col in range(8):
            left, right = pixels[row * 9 + col], pixels[row * 9 + col + 1]
            bits = (bits << 1) | (right > left)
    return f"{bits:016x}"


def hamming_distance(hash_a: str, hash_b: str) -> int:
    """Number of differing bits between two hex hashes of the same length (ValueError otherwise)."""
    if len(hash_a) != len(hash_b):
        raise ValueError("hashes of different lengths")
    return (int(hash_a, 16) ^ int(hash_b, 16)).bit_count()


# ----------------------------------------------------------------------------------------------------------
# The pipeline


def _decode(data: bytes, format_name: str, max_pixels: int, display_edge: int) -> tuple[Image.Image, int, int]:
    """Open with the one plugin the magic bytes named, check the pixel count, decode (reduced for JPEG)."""
    im = Image.open(BytesIO(data), formats=[format_name])
    width, height = im.size
    if width * height > max_pixels:
        im.close()
        raise PhotoRejected(
            "too_many_pixels",
            detail=f"{width}x{height} is {width * height} pixels, the limit is {max_pixels}",
            format_name=format_name,
        )
    if im.format in ("JPEG", "MPO") and max(width, height) > display_edge:
        # libjpeg can decode at 1/2, 1/4 or 1/8 scale; draft picks the smallest that is still at least the
        # requested size, so the long edge stays >= display_edge (4000x3000 -> 2000x1500 for 1600).
        scale = display_edge / max(width, height)
        im.draft("RGB", (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))))
    im.load()
    return im, width, height


def process_photo(
    data: bytes,
    *,
    max_bytes: int = 12 * 1024 * 1024,
    max_pixels: int = 50_000_000,
    display_edge: int = 1600,
    thumb_edge: int = 320,
    display_quality: int = DISPLAY_QUALITY,
    thumb_quality: int = 75,
) -> ProcessedPhoto:
    """Check an uploaded photo and make its display copy and thumbnail (see the module docstring).

    Raises ``PhotoRejected`` for anything that is not an acceptable photo; no other exception escapes for bad
    input. Pillow's own bomb limit (``Image.MAX_IMAGE_PIXELS``, about 89 MP) applies on top of ``max_pixels``.
    """
    if not data:
        raise PhotoRejected("empty", detail="no bytes")
    if len(data) > max_bytes:
        raise PhotoRejected("too_large", detail=f"{len(data)} bytes, the limit is {max_bytes}")
    format_name = sniff_format(data)
    if format_name not in ACCEPTED_FORMATS:
        raise PhotoRejected("unsupported", detail=f"not a raster photo format: {format_name}", format_name=format_name)
    assert format_name is not None
    if (format_name == "HEIF" and not HEIF_SUPPORTED) or (format_name == "AVIF" and not AVIF_SUPPORTED):
        raise PhotoRejected("unsupported", detail=f"no {format_name} decoder installed", format_name=format_name)
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Someone switched on Pillow's "fill truncated images with grey" globally; that would let cut-off
        # uploads through as half-grey photos. Turn it off again, loudly.
        log.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES was set; resetting it to False")
        ImageFile.LOAD_TRUNCATED_IMAGES = False

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # inserted last, so it is matched first
        try:
            source, source_width, source_height = _decode(data, format_name, max_pixels, display_edge)
        except PhotoRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError) as exc:
            raise PhotoRejected("too_many_pixels", detail=str(exc), format_name=format_name) from None
        except Exception as exc:  # any decoder failure on uploaded bytes means a broken file
            # UnidentifiedImageError, OSError("image file is truncated"), SyntaxError, struct.error,
            # ValueError, EOFError, IndexError, ... Pillow's plugins raise a wide variety on malformed input.
            raise PhotoRejected("corrupt", detail=f"{type(exc).__name__}: {exc}", format_name=format_name) from None

        with source:
            orientation, gps, taken_at = _read_exif(source)
            icc = source.info.get("icc_profile")
            try:
                im = _resizable(source)
            except ValueError as exc:
                raise PhotoRejected(
                    "unsupported", detail=f"image mode {source.mode}: {exc}", format_name=format_name
                ) from None
            # Leaving the block closes the file only: the loaded pixels stay usable, so a photo that needs no
            # shrinking is not copied.
            im = _shrink(im, display_edge)

        if orientation in _TRANSPOSE:
            im = im.transpose(_TRANSPOSE[orientation])
        im = _to_srgb(_flatten(im), icc)
        if im.mode != "RGB":
            im = im.convert("RGB")
        im.info = {}  # drop every piece of metadata the source carried (convert/copy keep ``info``)

        thumb = _thumbnail(im, thumb_edge)
        thumb.info = {}
        return ProcessedPhoto(
            display=_encode(im, display_quality),
            thumbnail=_encode(thumb, thumb_quality),
            width=im.width,
            height=im.height,
            thumb_width=thumb.width,
            thumb_height=thumb.height,
            phash=dhash(thumb),  # nearly the same 9x8 averages as from the display copy, from far fewer pixels
            gps=gps,
            taken_at=taken_at,
            source_format=format_name,
            source_width=source_width,
            source_height=source_height,
        )


__all__ = [
    "ACCEPTED_FORMATS",
    "AVIF_SUPPORTED",
    "HEIF_SUPPORTED",
    "PhotoRejected",
    "ProcessedPhoto",
    "dhash",
    "hamming_distance",
    "parse_exif_datetime",
    "parse_gps",
    "process_photo",
    "sniff_format",
]
