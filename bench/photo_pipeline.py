"""Time and memory of the upload photo pipeline on a 12-megapixel phone photo, against naive Pillow code.

The script writes a synthetic camera JPEG (4000x3000, EXIF Orientation=6, GPS; made by
tests/data/images/make_phone_photo.py) into a temporary directory, then measures two ways of turning it into
the stored copies (a display JPEG with a 1600 px long edge and a 320 px thumbnail):

* ``media``: ``webapp.photos.pipeline.process_photo`` (header checks, reduced-scale JPEG decoding with
  ``draft``, two-step shrink, orientation applied to the small image, metadata dropped, perceptual hash);
* ``naive``: ``Image.open -> ImageOps.exif_transpose -> thumbnail((1600, 1600)) -> save(JPEG, quality=75)``,
  then ``thumbnail((320, 320)) -> save(JPEG, quality=75)`` of that result;
* ``floor``: the DCT-scaled decode alone (``draft`` to the scale the pipeline decodes at, then ``load``): no
  pipeline that decodes the JPEG can be faster, so it shows how much is left to gain.

Every run is a fresh child process, so peak memory is honest. The child imports what it needs (imports,
including Pillow's JPEG and EXIF plugins, are never timed, for either pipeline), reads the file, then
processes the photo ``1 + --warm`` times: the first call is reported as "cold" (a freshly started worker:
every buffer is new memory the kernel has to fault in), the median of the others as "warm" (a worker that has
handled an upload before, which is what long-running gunicorn workers are nearly always doing). Peak memory is
the child's ``getrusage(RUSAGE_SELF).ru_maxrss`` after all calls, interpreter and libraries included; an idle
child that only imports and reads the photo shows that baseline, so the pipeline's own share is the
difference. ``pipeline.py`` is loaded from its file, not through the ``webapp`` package, so Flask and SQLAlchemy
do not count towards it.

Quality: the PSNR of the pipeline's display copy and thumbnail against the naive pipeline's (Lanczos resampling
from the full decode), decoded from the stored JPEGs.

Targets: ``media`` at least 3x faster than ``naive`` (median ms per photo; checked for warm and for cold
calls), and below 150 MB peak RSS.

Run from the repository root:

    .venv/bin/python bench/photo_pipeline.py [--runs 5] [--warm 3] [--photo some.jpg]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MEDIA_PY = ROOT / "webapp" / "photos" / "pipeline.py"
PHONE_PHOTO_SCRIPT = ROOT / "tests" / "data" / "images" / "make_phone_photo.py"
TARGET_SPEEDUP = 3.0
TARGET_PEAK_MB = 150.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _load_media():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("citizen_grid_media", MEDIA_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while the class body runs
    spec.loader.exec_module(module)
    return module


def child(mode: str, photo: Path, warm: int) -> dict[str, object]:
    """Runs inside the fresh process: import, read, time the calls, report."""
    import io

    from PIL import Image, ImageOps, JpegImagePlugin, TiffImagePlugin  # noqa: F401 - imported before timing

    media = _load_media() if mode.endswith("media") else None
    data = photo.read_bytes()
    result: dict[str, object] = {"mode": mode}
    if mode.startswith("idle"):
        result["rss_mb"] = _peak_rss_mb()
        return result

    def once() -> tuple[int, tuple[int, int]]:
        if mode == "floor":  # the DCT-scaled decode alone: libjpeg at the scale the pipeline decodes at
            im = Image.open(io.BytesIO(data))
            scale = 1600 / max(im.size)
            im.draft("RGB", (math.ceil(im.width * scale), math.ceil(im.height * scale)))
            im.load()
            return 0, im.size
        if mode == "media":
            processed = media.process_photo(data)
            return len(processed.display) + len(processed.thumbnail), (processed.width, processed.height)
        im = Image.open(io.BytesIO(data))
        im = ImageOps.exif_transpose(im)
        im.thumbnail((1600, 1600))
        display = io.BytesIO()
        im.save(display, "JPEG", quality=75)  # the pipeline's DISPLAY_QUALITY
        thumb = im.copy()
        thumb.thumbnail((320, 320))
        thumbnail = io.BytesIO()
        thumb.save(thumbnail, "JPEG", quality=75)
        return len(display.getvalue()) + len(thumbnail.getvalue()), im.size

    timings = []
    for _ in range(1 + warm):
        started = time.perf_counter()
        out_bytes, size = once()
        timings.append((time.perf_counter() - started) * 1000)
    result["cold_ms"] = timings[0]
    result["warm_ms"] = statistics.median(timings[1:]) if warm else timings[0]
    result["rss_mb"] = _peak_rss_mb()
    result["out_bytes"] = out_bytes
    result["size"] = list(size)
    return result


def run_child(mode: str, photo: Path, warm: int) -> dict[str, object]:
    completed = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            mode,
            "--photo",
            str(photo),
            "--warm",
            str(warm),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def quality(data: bytes) -> tuple[float, float]:
    """PSNR (dB) of the pipeline's display copy and thumbnail against the naive pipeline's, as stored (JPEG)."""
    import io

    from PIL import Image, ImageChops, ImageOps, ImageStat

    def psnr(a: Image.Image, b: Image.Image) -> float:
        mse = statistics.mean(v**2 for v in ImageStat.Stat(ImageChops.difference(a, b)).rms)
        return 10 * math.log10(255**2 / mse) if mse else float("inf")

    processed = _load_media().process_photo(data)
    im = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    im.thumbnail((1600, 1600))
    thumb = im.copy()
    thumb.thumbnail((320, 320))
    display = Image.open(io.BytesIO(processed.display)).convert("RGB")
    thumbnail = Image.open(io.BytesIO(processed.thumbnail)).convert("RGB")
    assert display.size == im.size and thumbnail.size == thumb.size
    return psnr(display, im.convert("RGB")), psnr(thumbnail, thumb.convert("RGB"))


def make_photo(directory: Path) -> Path:
    out = directory / "phone_12mp.jpg"
    subprocess.run([sys.executable, str(PHONE_PHOTO_SCRIPT), str(out)], check=True, capture_output=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per pipeline (default 5)")
    parser.add_argument("--warm", type=int, default=3, help="timed calls after the first, per process (default 3)")
    parser.add_argument("--photo", type=Path, help="use this JPEG instead of generating the 12 MP photo")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(child(args.child, args.photo, args.warm)))
        return

    with tempfile.TemporaryDirectory(prefix="photo-bench-") as tmp:
        photo = args.photo or make_photo(Path(tmp))
        from PIL import Image

        with Image.open(photo) as im:
            source = f"{im.width}x{im.height} {im.format}, Orientation={im.getexif().get(0x0112, 1)}"
        print(
            f"photo: {photo.name}, {source}, {photo.stat().st_size / 2**20:.1f} MB;"
            f" {args.runs} fresh processes per pipeline, each timing 1 cold + {args.warm} warm calls"
        )

        photo_bytes = photo.read_bytes()
        idle = {mode: run_child(mode, photo, 0)["rss_mb"] for mode in ("idle-naive", "idle-media", "idle-floor")}
        results: dict[str, list[dict[str, Any]]] = {"naive": [], "media": [], "floor": []}
        for _ in range(args.runs):  # interleaved, so a noisy neighbour hurts both alike
            for mode in results:
                results[mode].append(run_child(mode, photo, args.warm))

    rows = {}
    for mode, runs in results.items():
        rows[mode] = {
            "warm": statistics.median(r["warm_ms"] for r in runs),
            "cold": statistics.median(r["cold_ms"] for r in runs),
            "rss": max(r["rss_mb"] for r in runs),
            "idle": float(idle[f"idle-{mode}"]),  # type: ignore[arg-type]
            "out": statistics.median(r["out_bytes"] for r in runs),
            "size": "x".join(str(v) for v in runs[0]["size"]),
        }

    print()
    header = (
        f"{'pipeline':<8} {'warm ms/photo':>13} {'cold ms/photo':>13} {'peak RSS MB':>11} {'idle MB':>8}"
        f" {'delta MB':>8} {'output KB':>9}  display"
    )
    print(header)
    print("-" * len(header))
    for mode, row in rows.items():
        print(
            f"{mode:<8} {row['warm']:>13.1f} {row['cold']:>13.1f} {row['rss']:>11.1f} {row['idle']:>8.1f}"
            f" {row['rss'] - row['idle']:>8.1f} {row['out'] / 1024:>9.1f}  {row['size']}"
        )
    print("(ms: median over processes; peak RSS: highest of all processes, interpreter and libraries included)")
    print()
    for kind in ("warm", "cold"):
        speedup = rows["naive"][kind] / rows["media"][kind]
        verdict = "PASS" if speedup >= TARGET_SPEEDUP else "MISS"
        print(f"speed-up, {kind} calls (naive / media): {speedup:5.2f}x   target >= {TARGET_SPEEDUP:.0f}x   {verdict}")
    print(
        f"floor (the DCT-scaled decode alone, to {rows['floor']['size']}): {rows['floor']['warm']:.1f} ms warm,"
        f" {rows['floor']['cold']:.1f} ms cold; the pipeline takes {rows['media']['warm'] / rows['floor']['warm']:.2f}x"
        " the floor (warm): the rest is resizing, rotating, encoding two JPEGs and the hash"
    )
    display_db, thumbnail_db = quality(photo_bytes)
    print(f"quality: PSNR of media against naive, display copy {display_db:.1f} dB, thumbnail {thumbnail_db:.1f} dB")
    peak = rows["media"]["rss"]
    verdict = "PASS" if peak < TARGET_PEAK_MB else "MISS"
    print(
        f"media peak RSS: {peak:.1f} MB (delta over idle {peak - rows['media']['idle']:.1f} MB)"
        f"   target < {TARGET_PEAK_MB:.0f} MB   {verdict}"
    )


if __name__ == "__main__":
    main()
