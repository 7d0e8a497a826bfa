"""The HTML report as a phone shows it: WeasyPrint lays the page out on screens 390 CSS pixels wide, with the
stylesheet's media queries evaluated for that width (WeasyPrint itself reads media types only), so that what
overflows the screen can be measured and each screen looked at as a PNG.

A box overflows when its border box ends right of the screen; boxes inside a scroll container (``overflow``
other than ``visible``: the wrappers of wide tables) scroll within it and are not counted, the container is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO

import pypdfium2 as pdfium
import tinycss2
from weasyprint import HTML

WIDTH, HEIGHT = 390, 844
"""An iPhone 12-15 screen in CSS pixels."""
SCREEN = "@page { size: %dpx %dpx; margin: 0; @bottom-center { content: none } @bottom-left { content: none } }"
_STYLE = re.compile(r"(<style>)(.*?)(</style>)", re.S)
_FEATURE = re.compile(r"\(\s*(min|max)-width\s*:\s*([\d.]+)(px|rem|em)\s*\)")
_REST = re.compile(r"^(only\s+)?(screen|all)?(\s+and\s+)?$")


def matches(query: str, width: float) -> bool:
    """Whether a media query list (``screen and (max-width: 640px)``) holds on a screen ``width`` px wide."""
    for part in query.lower().split(","):
        features = _FEATURE.findall(part)
        rest = _FEATURE.sub("", part).replace(" and ", " ").strip()
        if not _REST.match(" ".join(rest.split()) if rest not in ("", "and") else ""):
            continue  # print, or a feature we do not evaluate
        sizes = [(kind, float(value) * (16 if unit != "px" else 1)) for kind, value, unit in features]
        if all(width >= size if kind == "min" else width <= size for kind, size in sizes):
            return True
    return False


def screen_css(css: str, width: float) -> str:
    """The stylesheet with each ``@media`` block kept as plain rules when it holds at ``width``, else dropped."""
    out = []
    for rule in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if rule.type == "at-rule" and rule.lower_at_keyword == "media":
            if matches(tinycss2.serialize(rule.prelude), width):
                out.append(tinycss2.serialize(rule.content))
        else:
            out.append(rule.serialize())
    return "\n".join(out)


@dataclass(frozen=True)
class Overflow:
    page: int
    tag: str
    classes: str
    right: float
    text: str


@dataclass
class PhoneLayout:
    document: object
    too_wide: list[Overflow]

    @property
    def pages(self) -> list:
        return self.document.pages

    def pngs(self) -> Iterator[bytes]:
        """Each screen as a PNG, one image pixel per CSS pixel."""
        pdf = pdfium.PdfDocument(self.document.write_pdf())
        for page in pdf:
            buffer = BytesIO()
            page.render(scale=96 / 72).to_pil().save(buffer, format="PNG")
            yield buffer.getvalue()


def phone_layout(html: str, width: int = WIDTH, height: int = HEIGHT) -> PhoneLayout:
    """Lay ``html`` out on screens ``width`` x ``height`` CSS pixels and list what ends right of them."""
    screen = SCREEN % (width, height)  # after the report's own @page rule, so that it wins
    page = _STYLE.sub(lambda m: m[1] + screen_css(m[2], width) + screen + m[3], html, count=1)
    document = HTML(string=page, media_type="screen").render()
    too_wide = []
    for number, rendered in enumerate(document.pages, start=1):
        too_wide += [box for box in _overflowing(rendered._page_box, width, number)]
    return PhoneLayout(document, too_wide)


def _overflowing(box, width: float, page: int) -> Iterator[Overflow]:
    right = box.border_box_x() + box.border_width() if hasattr(box, "border_width") else 0.0
    if right > width + 0.5 and getattr(box, "element_tag", None) not in (None, "html"):
        element = getattr(box, "element", None)
        text = " ".join(element.itertext())[:80] if element is not None else ""
        yield Overflow(page, box.element_tag, element.get("class", "") if element is not None else "", right, text)
    if box.style["overflow"] != "visible":
        return  # what is inside scrolls within the container
    for child in getattr(box, "children", ()):
        yield from _overflowing(child, width, page)
