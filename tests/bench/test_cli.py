"""``bench retrieval`` and ``bench cost`` end to end: every system, printed figures, the
JSON result and the report folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lightmem.datasets import sha256_file

SYSTEMS = ["lightmem", "naive-rag", "full-text", "per-turn"]
PNG = b"\x89PNG\r\n\x1a\n"


def system_args(names: list[str]) -> list[str]:
    return [a for n in names for a in ("--system", n)]


def test_retrieval_locomo_every_system(run_bench: Any, locomo_file: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "out.json", tmp_path / "report"
    result = run_bench(
        "retrieval --dataset locomo --llm none --embedder hash",
        *("--data", str(locomo_file), "--json", str(out), "--report", str(report)),
        *system_args(SYSTEMS),
    )
    text = result.stdout
    assert "categories 1-4" in text and "by category" in text and "adversarial" in text
    for name in SYSTEMS:
        assert name in text
    data = json.loads(out.read_text())
    assert data["dataset"]["sha256"] == sha256_file(locomo_file)
    assert data["dataset"]["quirks"]["malformed_evidence"] == 2
    assert data["dataset"]["quirks"]["no_evidence"] == 2
    assert data["config"]["llm"]["provider"] == "none"
    assert data["versions"]["lightmem"]
    for name in SYSTEMS:
        r = data["systems"][name]["retrieval"]
        assert r["by_category"]["overall"]["n"] == 8  # 4 per sample with evidence, cats 1-4
        assert set(r["by_category"]) == {"overall", "1", "2", "3", "4"}
        assert r["adversarial"]["n"] == 2
        assert r["excluded"] == {"no_evidence": 2}
        assert len(r["questions"]) == 10
        assert data["systems"][name]["construction"]["online"]["calls"] == 0
    overall = {n: data["systems"][n]["retrieval"]["by_category"]["overall"] for n in SYSTEMS}
    assert overall["lightmem"]["hit@5"] >= overall["full-text"]["hit@5"]
    md = (report / "report.md").read_text()
    assert "| system | n | hit@5" in md and "![recall_at_k](recall_at_k.png)" in md
    for png in ("recall_at_k.png", "cost.png"):
        assert (report / png).read_bytes()[:8] == PNG


def test_retrieval_longmemeval(run_bench: Any, longmemeval_file: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "out.json", tmp_path / "report"
    result = run_bench(
        "retrieval --dataset longmemeval --llm none --embedder hash",
        *("--data", str(longmemeval_file), "--json", str(out), "--report", str(report)),
        *system_args(["lightmem", "full-text"]),
    )
    assert "1 abstention questions left out" in result.stdout
    data = json.loads(out.read_text())
    r = data["systems"]["lightmem"]["retrieval"]
    assert r["excluded"] == {"abstention": 1}
    assert r["by_category"]["overall"]["n"] == 1
    assert r["by_category"]["overall"]["turn.recall_any@5"] == 1.0  # 4 user turns in all
    assert (report / "recall_at_k.png").read_bytes()[:8] == PNG


def test_cost_reports_ratio_to_per_turn(run_bench: Any, locomo_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "cost.json"
    result = run_bench(
        "cost --dataset locomo --sample s1 --llm scripted --embedder hash",
        *("--data", str(locomo_file), "--json", str(out)),
        *system_args(["lightmem", "per-turn"]),
    )
    assert "lightmem/per-turn: online calls x" in result.stdout
    data = json.loads(out.read_text())
    per_turn = data["systems"]["per-turn"]["construction"]
    assert per_turn["online"]["calls"] == per_turn["turns"] == 9
    assert per_turn["online"]["calls_per_turn"] == 1.0
    lightmem = data["systems"]["lightmem"]["construction"]
    ratio = data["construction_ratios"]["lightmem/per-turn"]
    assert ratio["calls"] == pytest.approx(lightmem["online"]["calls"] / 9, abs=1e-3)
    # every question of categories 1-4 with an answer (one has no evidence)
    assert data["systems"]["lightmem"]["search"]["search_ms"]["n"] == 5


def test_bad_input_is_reported(run_bench: Any, locomo_file: Path) -> None:
    result = run_bench(
        "retrieval --dataset locomo --system mem0", "--data", str(locomo_file), ok=False
    )
    assert result.exit_code == 2 and "unknown system 'mem0'" in result.output


def test_config_overrides_keep_options_of_the_same_provider(tmp_path: Path) -> None:
    from lightmem_bench.configure import load_config

    path = tmp_path / "c.toml"
    path.write_text(
        '[embedder]\nprovider = "hash"\noptions = { dim = 32 }\n[llm]\n'
        'provider = "openai"\noptions = { model = "m" }\n'
    )
    cfg = load_config(path, "none", "hash")
    assert cfg.embedder.options == {"dim": 32}
    assert cfg.llm.provider == "none" and cfg.llm.options == {}


def test_llm_specs(tmp_path: Path) -> None:
    from lightmem.config import LLMSection
    from lightmem.errors import ConfigError
    from lightmem.llm.scripted import ScriptedLLM
    from lightmem_bench.configure import llm_from_spec

    llm = llm_from_spec("scripted", LLMSection(provider="none"))
    assert isinstance(llm, ScriptedLLM)
    assert llm.complete([]).text == "I don't know"  # the bench's endless fake answers
    path = tmp_path / "judge.toml"
    path.write_text('[llm]\nprovider = "scripted"\noptions = { model = "judge-x" }\n')
    assert llm_from_spec(str(path), LLMSection()).model_name == "judge-x"
    assert llm_from_spec('{"provider": "none"}', LLMSection()).available is False
    assert llm_from_spec(None, LLMSection(provider="none")).available is False
    with pytest.raises(ConfigError, match="not valid JSON"):
        llm_from_spec("{nope", LLMSection())


def test_report_without_matplotlib_names_the_install(
    run_bench: Any, locomo_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from lightmem.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'lightmem\[bench\]'"):
        run_bench(
            "retrieval --dataset locomo --llm none --embedder hash --system full-text",
            *("--data", str(locomo_file), "--report", str(tmp_path / "r")),
        )
