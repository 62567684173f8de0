"""Server-rendered SVG charts: no script, no CDN, so they work under a strict Content-Security-Policy
and print as they look. Every piece of text is escaped before it goes into the markup."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from insights.metrics import formatted

PALETTE = ("#2f5bd3", "#17794a", "#b42318", "#9a5b00", "#5b3fb8", "#0e7490", "#be185d", "#4b5563")
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 34, 30


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10 if value >= 1 else 0.1
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return value


def _count_step(value: float) -> float:
    """The y-axis step for counts: four whole, nice steps covering ``value`` (2.5 becomes 5)."""
    step = _nice_max(max(value / 4, 1.0))
    return step if step.is_integer() else 2 * step


def _points(
    values: Sequence[float | None], x: list[float], y_of: "_Scale"
) -> list[list[tuple[float, float]]]:
    """Runs of consecutive known values: a gap (None) breaks the line."""
    runs: list[list[tuple[float, float]]] = [[]]
    for xi, value in zip(x, values, strict=True):
        if value is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((xi, y_of(value)))
    return [run for run in runs if run]


class _Scale:
    def __init__(self, top: float, bottom: float, maximum: float) -> None:
        self.top, self.bottom, self.maximum = top, bottom, maximum

    def __call__(self, value: float) -> float:
        return self.bottom - (self.bottom - self.top) * min(value, self.maximum) / self.maximum


LEGEND_TOP, LEGEND_ROW = 8, 18


def _legend(labels: Sequence[str], width: int) -> list[tuple[int, int]]:
    """Where each legend item goes: left to right, wrapping to a new row at the chart's right edge."""
    places, lx, ly = [], LEFT, LEGEND_TOP
    for label in labels:
        item_w = 30 + 7 * len(label)
        if lx > LEFT and lx + item_w - 13 > width - RIGHT:
            lx, ly = LEFT, ly + LEGEND_ROW
        places.append((lx, ly))
        lx += item_w
    return places


def line_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    unit: str,
    band: tuple[float, float] | None = None,
    width: int = 720,
    height: int = 230,
) -> SafeString:
    """Lines over time; ``band`` (low, high) is drawn as a shaded tolerance area behind them."""
    known = [v for s in series for v in s.values if v is not None]
    top_value = max([*known, *(band or ())], default=0.0)
    maximum = _nice_max(top_value * 1.1 if unit == "rate" else top_value)
    if unit == "rate":
        maximum = min(maximum, 1.0) or 1.0
    elif unit == "count":  # whole numbers on every grid line, not 0.25 steps shown as "0, 0, 0, 1, 1"
        maximum = 4 * _count_step(top_value)
    legend = [(s.label, f'fill="{PALETTE[i % len(PALETTE)]}"') for i, s in enumerate(series)]
    if band is not None:
        legend.append(("tolerance band", 'class="band"'))
    places = _legend([label for label, _ in legend], width)
    extra = places[-1][1] - LEGEND_TOP if places else 0  # legend rows after the first push the plot down
    height += extra
    plot_w, bottom = width - LEFT - RIGHT, height - BOTTOM
    y_of = _Scale(TOP + extra, bottom, maximum)
    count = max(len(labels), 1)
    x = [LEFT + (plot_w * (i + 0.5) / count) for i in range(len(labels))]
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    if band is not None:
        y_hi, y_lo = y_of(band[1]), y_of(band[0])
        band_h = max(y_lo - y_hi, 1)
        parts.append(
            f'<rect class="band" x="{LEFT}" y="{y_hi:.1f}" width="{plot_w}" height="{band_h:.1f}">'
            f"<title>tolerance band {escape(formatted(band[0], unit))} to {escape(formatted(band[1], unit))}"
            "</title></rect>"
        )
    for i in range(5):
        value = maximum * i / 4
        y = y_of(value)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(formatted(value, unit))}</text>"
        )
    step = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % step == 0:
            parts.append(
                f'<text class="axis" x="{x[i]:.1f}" y="{height - 10}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    for index, s in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        for run in _points(s.values, x, y_of):
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
            parts.append(f'<polyline class="line" fill="none" stroke="{color}" points="{path}"/>')
            if len(run) == 1:
                parts.append(f'<circle cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="3" fill="{color}"/>')
    for (label, paint), (lx, ly) in zip(legend, places, strict=True):
        parts.append(
            f'<rect {paint} x="{lx}" y="{ly}" width="12" height="12" rx="2"/>'
            f'<text class="legend" x="{lx + 17}" y="{ly + 10}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above


def bar_chart(
    *, title: str, rows: Sequence[tuple[str, float | None]], unit: str, width: int = 520
) -> SafeString:
    """Horizontal bars, one per row (an action, a queue)."""
    bar_h, gap, label_w = 20, 8, 150
    height = TOP // 2 + len(rows) * (bar_h + gap) + 8
    maximum = _nice_max(max([v for _, v in rows if v is not None], default=0.0))
    plot_w = width - label_w - 80
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(rows):
        y = TOP // 2 + i * (bar_h + gap)
        length = 0.0 if value is None else plot_w * min(value, maximum) / maximum
        parts.append(
            f'<text class="axis" x="{label_w - 8}" y="{y + 14}" text-anchor="end">{escape(label)}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{max(length, 1):.1f}" height="{bar_h}" rx="3" '
            f'fill="{PALETTE[0]}"/>'
        )
        parts.append(
            f'<text class="value" x="{label_w + length + 6:.1f}" y="{y + 14}">'
            f"{escape(formatted(value, unit))}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above
