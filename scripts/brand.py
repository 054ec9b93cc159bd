"""Draw the integration's brand images into custom_components/iot_monitor/brand/.

Home Assistant (2026.3+) serves a custom integration's icon and logo from that folder:
icon 256x256 (@2x 512x512), logo with a shortest side of 128 px (@2x 256 px), PNG with
transparency, dark variants for dark themes. The images are committed; run this after
changing the drawing:

    .venv/bin/python scripts/brand.py

Pillow comes with Home Assistant; the font is the one bundled with Pillow, so the output
does not depend on the fonts a machine has.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from PIL import Image, ImageDraw, ImageFont

BRAND = Path(__file__).resolve().parent.parent / "custom_components" / "iot_monitor" / "brand"
SUPERSAMPLE = 4
"""Drawn this many times larger, then scaled down: smooth edges without anti-aliased drawing."""
NAME = "iot-monitor"


class Theme(NamedTuple):
    prefix: str
    tile: tuple[int, int, int]
    text: tuple[int, int, int]


LIGHT = Theme("", (0x00, 0x7C, 0x89), (0x1C, 0x2B, 0x33))
DARK = Theme("dark_", (0x26, 0xA6, 0x9A), (0xE8, 0xEE, 0xF1))
WHITE = (255, 255, 255, 255)


def _icon(size: int, theme: Theme) -> Image.Image:
    """A tile holding a chip (the Raspberry Pi's sensors) with a live reading across it."""
    s = size * SUPERSAMPLE
    image = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, s - 1, s - 1), radius=s * 0.22, fill=(*theme.tile, 255))

    line = round(s * 0.045)
    chip = (s * 0.25, s * 0.25, s * 0.75, s * 0.75)
    draw.rounded_rectangle(chip, radius=s * 0.06, outline=WHITE, width=line)
    pin_length = s * 0.08
    for n in range(3):
        at = s * (0.36 + 0.14 * n)
        draw.line((at, chip[1] - pin_length, at, chip[1]), fill=WHITE, width=line)
        draw.line((at, chip[3], at, chip[3] + pin_length), fill=WHITE, width=line)
        draw.line((chip[0] - pin_length, at, chip[0], at), fill=WHITE, width=line)
        draw.line((chip[2], at, chip[2] + pin_length, at), fill=WHITE, width=line)

    pulse = [
        (0.31, 0.52),
        (0.40, 0.52),
        (0.45, 0.38),
        (0.52, 0.64),
        (0.57, 0.47),
        (0.61, 0.52),
        (0.69, 0.52),
    ]
    draw.line([(x * s, y * s) for x, y in pulse], fill=WHITE, width=line, joint="curve")
    return image.resize((size, size), Image.Resampling.LANCZOS)


def _logo(height: int, theme: Theme) -> Image.Image:
    """The icon followed by the name, trimmed to its content."""
    icon = _icon(height, theme)
    font = ImageFont.load_default(size=round(height * 0.56))
    left, top, right, bottom = font.getbbox(NAME, stroke_width=round(height * 0.012))
    gap = round(height * 0.18)
    image = Image.new("RGBA", (height + gap + round(right - left), height), (0, 0, 0, 0))
    image.paste(icon, (0, 0))
    ImageDraw.Draw(image).text(
        (height + gap - left, (height - (bottom - top)) / 2 - top),
        NAME,
        font=font,
        fill=(*theme.text, 255),
        stroke_width=round(height * 0.012),
        stroke_fill=(*theme.text, 255),
    )
    bbox = image.getbbox()
    assert bbox is not None
    return image.crop(bbox)


def main() -> None:
    BRAND.mkdir(parents=True, exist_ok=True)
    for theme in (LIGHT, DARK):
        for suffix, scale in (("", 1), ("@2x", 2)):
            _icon(256 * scale, theme).save(BRAND / f"{theme.prefix}icon{suffix}.png", optimize=True)
            _logo(128 * scale, theme).save(BRAND / f"{theme.prefix}logo{suffix}.png", optimize=True)


if __name__ == "__main__":
    main()
