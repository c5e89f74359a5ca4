"""Charts of the daily report as PNG files (matplotlib, the optional ``report`` extra).

matplotlib is imported here only: the gateway itself never needs it. Chinese labels need a CJK
font; the Debian package ``fonts-noto-cjk`` (installed by scripts/setup.sh) provides Noto Sans
CJK, which is registered by path so no font cache or system configuration is involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from chargewatch.errors import ConfigError

CJK_FONTS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc"),
)


def _pyplot() -> ModuleType:
    try:
        import matplotlib  # noqa: PLC0415 - optional dependency, loaded only for reports

        matplotlib.use("Agg")
        from matplotlib import font_manager  # noqa: PLC0415
        from matplotlib import pyplot as plt  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigError(
            "chargewatch report draws its charts with matplotlib, which is not installed. "
            "Fix: pip install 'chargewatch[report]'"
        ) from exc
    font = next((p for p in CJK_FONTS if p.exists()), None)
    if font is None:
        raise ConfigError("no CJK font for the report's Chinese labels. Fix: apt-get install fonts-noto-cjk")
    font_manager.fontManager.addfont(str(font))
    matplotlib.rcParams["font.family"] = font_manager.FontProperties(fname=str(font)).get_name()
    matplotlib.rcParams["axes.unicode_minus"] = False
    return plt


def bar_chart(
    path: Path,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    fmt: str = "%.2f",
) -> Path:
    """Grouped bars: one group per label, one bar per (name, values) series; saved as PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    width = 0.8 / max(len(series), 1)
    for k, (name, values) in enumerate(series):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(labels))]
        bars = ax.bar(xs, values, width, label=name)
        ax.bar_label(bars, fmt=fmt, fontsize=8)
    ax.set_xticks(range(len(labels)), labels)
    if len(labels) > 3:
        ax.tick_params(axis="x", labelrotation=20)
    ax.set_title(title)
    if len(series) > 1:
        ax.legend()
    if not labels:
        ax.text(0.5, 0.5, "无数据 (no data)", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
