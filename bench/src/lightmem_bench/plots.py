"""PNG plots of a benchmark result (matplotlib, Agg backend, imported only when asked):
recall@k and recall-at-budget curves per system, construction-cost bars, QA accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightmem.errors import MissingDependencyError
from lightmem_bench.retrieval import BUDGETS, CATEGORY_NAMES, LOCOMO_KS, LONGMEMEVAL_KS


def plots(result: dict[str, Any], folder: Path) -> list[Path]:
    """Write the plots the result supports into ``folder``; returns their paths."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError(
            "matplotlib", extra="bench", hint="it draws the plots of a benchmark report"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    systems = result["systems"]
    if all("retrieval" in s for s in systems.values()):
        fig = (
            _locomo_curves(plt, systems)
            if result["dataset"]["name"] == "locomo"
            else _longmemeval_curves(plt, systems)
        )
        written.append(_save(plt, fig, folder / "recall_at_k.png"))
    written.append(_save(plt, _cost_bars(plt, systems), folder / "cost.png"))
    if all("qa" in s for s in systems.values()):
        written.append(_save(plt, _qa_bars(plt, systems), folder / "qa.png"))
    return written


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _curves(
    ax: Any, xs: Sequence[int], series: dict[str, list[float]], title: str, xlabel: str
) -> None:
    styles = zip("osD^v<>", ("-", "--", "-.", ":") * 2, strict=False)
    for (name, ys), (marker, line) in zip(series.items(), styles, strict=False):
        ax.plot(xs, ys, marker=marker, linestyle=line, label=name)
    ax.set_xscale("log")
    ax.set_xticks(list(xs), [str(x) for x in xs])
    ax.minorticks_off()
    ax.set_ylim(-0.02, 1.04)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.grid(True, alpha=0.3)
    ax.legend()


def _locomo_curves(plt: Any, systems: dict[str, Any]) -> Any:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    overall = {n: s["retrieval"]["by_category"]["overall"] for n, s in systems.items()}
    n = int(next(iter(overall.values()))["n"])
    _curves(
        left,
        LOCOMO_KS,
        {k: [o[f"recall@{x}"] for x in LOCOMO_KS] for k, o in overall.items()},
        f"LoCoMo recall@k (categories 1-4, n={n})",
        "k (units retrieved)",
    )
    left.set_ylabel("evidence recall")
    _curves(
        right,
        BUDGETS,
        {k: [o[f"recall@{b}tok"] for b in BUDGETS] for k, o in overall.items()},
        "LoCoMo recall at a token budget",
        "context budget (tokens)",
    )
    return fig


def _longmemeval_curves(plt: Any, systems: dict[str, Any]) -> Any:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    overall = {n: s["retrieval"]["by_category"]["overall"] for n, s in systems.items()}
    n = int(next(iter(overall.values()))["n"])
    for ax, level in ((left, "turn"), (right, "session")):
        series = {
            k: [o[f"{level}.recall_any@{x}"] for x in LONGMEMEVAL_KS] for k, o in overall.items()
        }
        _curves(ax, LONGMEMEVAL_KS, series, f"LongMemEval {level} recall_any@k (n={n})", "k")
    left.set_ylabel("recall_any")
    return fig


def _stacked(
    ax: Any, names: list[str], online: list[float], offline: list[float], title: str
) -> None:
    """Online (solid) and offline (hatched) parts of one cost, labelled with the total."""
    colors = [f"C{i % 10}" for i in range(len(names))]
    ax.bar(names, online, color=colors)
    bars = ax.bar(names, offline, bottom=online, color=colors, alpha=0.45, hatch="//")
    totals = [a + b for a, b in zip(online, offline, strict=True)]
    fmt = "{:,.1f}" if max([*totals, 0]) < 100 else "{:,.0f}"
    ax.bar_label(bars, labels=[fmt.format(t) for t in totals], padding=2)
    ax.set_ylim(0, max([*totals, 1]) * 1.18)
    ax.set_title(title)
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:,.0f}")
    ax.tick_params(axis="x", labelrotation=15)


def _cost_bars(plt: Any, systems: dict[str, Any]) -> Any:
    from matplotlib.patches import Patch

    names = list(systems)
    con = [systems[n]["construction"] for n in names]
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 4.2))
    for ax, key, title in (
        (axes[0], "calls", "LLM calls to build"),
        (axes[1], "tokens_in", "prompt tokens to build"),
        (axes[2], "wall_seconds", "build wall seconds"),
    ):
        _stacked(
            ax,
            names,
            [float(c["online"][key]) for c in con],
            [float(c["offline"][key]) for c in con],
            title,
        )
    fig.legend(
        handles=[
            Patch(color="grey", label="online (add + flush)"),
            Patch(color="grey", alpha=0.45, hatch="//", label="offline (consolidate)"),
        ],
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=2,
        frameon=False,
    )
    return fig


def _qa_bars(plt: Any, systems: dict[str, Any]) -> Any:
    import numpy as np

    names = list(systems)
    first = systems[names[0]]["qa"]["by_category"]
    cats = sorted(first, key=lambda c: (c != "overall", c))
    labels = [f"{CATEGORY_NAMES.get(c, c)}\n(n={int(first[c]['n'])})" for c in cats]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(cats) + 0.4 * len(names) * len(cats)), 4.2))
    width = 0.8 / len(names)
    x = np.arange(len(cats))
    for i, name in enumerate(names):
        by = systems[name]["qa"]["by_category"]
        values = [by.get(c, {}).get("judge", 0.0) for c in cats]
        bars = ax.bar(x + i * width, values, width, label=name, color=f"C{i % 10}")
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], padding=2, fontsize="small")
    ax.set_xticks(x + width * (len(names) - 1) / 2, labels)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("judge accuracy")
    ax.set_title("QA accuracy by category (LLM judge)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=len(names), frameon=False)
    return fig
