"""Write a synthetic phone-camera photo: 4000x3000 JPEG, EXIF Orientation=6 and GPS (Taiyuan, Shanxi).

Usage: python make_phone_photo.py OUT.jpg [WIDTH HEIGHT]
The picture is a scaled-up real photo plus noise, so it compresses like a camera JPEG (about 3-5 MB).
"""

import random
import sys
from pathlib import Path

from PIL import Image, ImageFilter

HERE = Path(__file__).resolve().parent


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "phone_photo.jpg"
    width, height = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (4000, 3000)
    base = Image.open(HERE / "flower2.jpg").convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
    rng = random.Random(7)
    noise = Image.effect_noise((width, height), 40).convert("RGB").filter(ImageFilter.GaussianBlur(0.6))
    img = Image.blend(base, noise, 0.18)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    exif[0x010F] = "ExampleCam"
    exif[0x0110] = "Model 12MP"
    gps = {1: "N", 2: (37.0, 51.0, 36.0), 3: "E", 4: (112.0, 33.0, 0.0 + rng.random())}
    exif[0x8825] = gps
    img.save(out, "JPEG", quality=92, exif=exif.tobytes())
    print(out)


if __name__ == "__main__":
    main()
