"""``lightmem bench retrieval|qa|cost``: the benchmark harness on the command line.

``bench_app`` is mounted by the main CLI as ``lightmem bench``; errors are translated there.
Tables go to stdout, progress to stderr; ``--json OUT`` writes the whole result (per-question
rows included) and ``--report DIR`` a markdown report with plots.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lightmem.config import lightmem_home
from lightmem.errors import ConfigError, InputError, LightMemError
from lightmem.retrieval.search import MODES
from lightmem_bench.configure import llm_from_spec, load_config
from lightmem_bench.judge import CallCache
from lightmem_bench.qa import QASettings
from lightmem_bench.report import ratio_lines, tables, write_report
from lightmem_bench.runner import BenchSpec, Command, run
from lightmem_bench.systems import SYSTEMS

bench_app = typer.Typer(
    name="bench",
    help="Benchmark memory systems on LoCoMo or LongMemEval: retrieval, QA and cost.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


class DatasetName(StrEnum):
    locomo = "locomo"
    longmemeval = "longmemeval"


DatasetOpt = Annotated[DatasetName, typer.Option("--dataset", help="The file's benchmark.")]
DataOpt = Annotated[Path, typer.Option("--data", help="The benchmark file (JSON).")]
SampleOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--sample", help="Only this LoCoMo sample_id / LongMemEval question_id (repeatable)."
    ),
]
SystemOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--system", help=f"System to run (repeatable): {', '.join(SYSTEMS)}. Default: lightmem."
    ),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="Memory config (TOML, YAML or JSON).")
]
LLMOpt = Annotated[
    str | None,
    typer.Option(
        "--llm",
        help="Override the config's LLM provider (none, scripted, local, "
        "openai, annotated). 'scripted' is an endless instant fake; 'annotated' answers "
        "extraction with LoCoMo's own observation facts (an oracle proxy for a strong LLM).",
    ),
]
EmbedderOpt = Annotated[
    str | None, typer.Option("--embedder", help="Override the config's embedder (minilm, hash).")
]
ChunkOpt = Annotated[
    int | None,
    typer.Option("--chunk-tokens", min=1, help="naive-rag: chunks of N tokens, not raw turns."),
]
SessionsOpt = Annotated[
    int | None,
    typer.Option("--max-sessions", min=1, help="Only each conversation's first N sessions."),
]
ConsolidateOpt = Annotated[
    bool,
    typer.Option(
        "--consolidate/--no-consolidate",
        help="lightmem: run the sleep-time update after the build.",
    ),
]
DepthOpt = Annotated[int, typer.Option("--depth", min=1, help="Units per search for metrics.")]
TopKOpt = Annotated[int, typer.Option("--top-k", min=1, help="Units in a reader's context.")]
CacheOpt = Annotated[
    Path | None,
    typer.Option("--cache", help="Cache directory (default: $LIGHTMEM_HOME/bench-cache)."),
]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Write the full result here.")]
ReportOpt = Annotated[
    Path | None, typer.Option("--report", help="Write report.md and PNG plots to this folder.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]
ModeOpt = Annotated[
    str | None,
    typer.Option(
        "--mode",
        help="lightmem: search mode (dense, bm25, hybrid, hierarchical); default: the config's.",
    ),
]


def _spec(
    dataset: DatasetName,
    data: Path,
    samples: list[str] | None,
    systems: list[str] | None,
    config: Path | None,
    llm: str | None,
    embedder: str | None,
    chunk_tokens: int | None,
    max_sessions: int | None,
    consolidate: bool,
    depth: int,
    top_k: int,
    cache: Path | None,
    mode: str | None = None,
) -> BenchSpec:
    names = list(dict.fromkeys(systems or ["lightmem"]))
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown:
        raise typer.BadParameter(
            f"unknown system {unknown[0]!r}; use: {', '.join(SYSTEMS)}", param_hint="--system"
        )
    memory_config = load_config(config, llm, embedder)
    if mode is not None:
        if mode not in MODES:
            raise typer.BadParameter(f"use one of {', '.join(MODES)}", param_hint="--mode")
        memory_config.retrieval.mode = mode
    if memory_config.llm.provider == "annotated":
        if dataset.value != "locomo":
            raise typer.BadParameter(
                "the annotated provider answers from LoCoMo's observation annotations; "
                "use it with --dataset locomo",
                param_hint="--llm",
            )
        if "data" not in memory_config.llm.options:
            memory_config.llm.options = {**memory_config.llm.options, "data": str(data.resolve())}
    return BenchSpec(
        dataset=dataset.value,
        data=data,
        systems=names,
        config=memory_config,
        cache_dir=usable_cache(cache or lightmem_home() / "bench-cache"),
        samples=samples or None,
        chunk_tokens=chunk_tokens,
        max_sessions=max_sessions,
        consolidate=consolidate,
        depth=depth,
        top_k=top_k,
    )


def _finish(result: dict[str, Any], json_out: Path | None, report: Path | None) -> None:
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=220)  # piped: keep the tables whole
    for title, head, rows in tables(result):
        table = Table(title=title, title_justify="left")
        for i, h in enumerate(head):
            table.add_column(h, justify="left" if i < 2 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for line in ratio_lines(result):
        console.print(line, markup=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(
            json.dumps(result, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
        )
    if report is not None:
        write_report(result, report)


def _execute(
    command: Command,
    spec: BenchSpec,
    quiet: bool,
    json_out: Path | None,
    report: Path | None,
    qa: QASettings | None = None,
) -> None:
    err = Console(stderr=True, highlight=False)

    def say(msg: str) -> None:
        if not quiet:
            err.print(msg, markup=False)

    result = run(spec, command, qa=qa, progress=say)
    if qa is not None:
        result["qa_models"] = {
            "answer": qa.answer_llm.model_name,
            "judge": qa.judge_llm.model_name,
            "top_k": qa.top_k,
            "max_context_tokens": qa.max_context_tokens,
            "max_questions": qa.max_questions,
        }
    _finish(result, json_out, report)


@bench_app.command("retrieval")
def retrieval(
    dataset: DatasetOpt,
    data: DataOpt,
    sample: SampleOpt = None,
    system: SystemOpt = None,
    config: ConfigOpt = None,
    llm: LLMOpt = None,
    embedder: EmbedderOpt = None,
    chunk_tokens: ChunkOpt = None,
    max_sessions: SessionsOpt = None,
    consolidate: ConsolidateOpt = True,
    depth: DepthOpt = 200,
    cache: CacheOpt = None,
    json_out: JsonOpt = None,
    report: ReportOpt = None,
    quiet: QuietOpt = False,
    mode: ModeOpt = None,
) -> None:
    """Evidence retrieval per system, by category (no LLM needed at query time).

    LoCoMo: hit@k and recall@k of the evidence turns, and at 500/1000/2000-token budgets.
    LongMemEval: the official turn- and session-level recall_any, recall_all and ndcg_any.
    """
    spec = _spec(
        dataset,
        data,
        sample,
        system,
        config,
        llm,
        embedder,
        chunk_tokens,
        max_sessions,
        consolidate,
        depth,
        10,
        cache,
        mode,
    )
    _execute("retrieval", spec, quiet, json_out, report)


@bench_app.command("cost")
def cost(
    dataset: DatasetOpt,
    data: DataOpt,
    sample: SampleOpt = None,
    system: SystemOpt = None,
    config: ConfigOpt = None,
    llm: LLMOpt = None,
    embedder: EmbedderOpt = None,
    chunk_tokens: ChunkOpt = None,
    max_sessions: SessionsOpt = None,
    consolidate: ConsolidateOpt = True,
    top_k: TopKOpt = 10,
    cache: CacheOpt = None,
    json_out: JsonOpt = None,
    report: ReportOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Construction cost, sleep-time update cost, search latency and context size.

    LLM calls, tokens and seconds to build (online) and to consolidate (offline), kept apart;
    with per-turn among the systems, each system's cost as a multiple of it.
    """
    spec = _spec(
        dataset,
        data,
        sample,
        system,
        config,
        llm,
        embedder,
        chunk_tokens,
        max_sessions,
        consolidate,
        200,
        top_k,
        cache,
    )
    _execute("cost", spec, quiet, json_out, report)


@bench_app.command("qa")
def qa(
    dataset: DatasetOpt,
    data: DataOpt,
    sample: SampleOpt = None,
    system: SystemOpt = None,
    config: ConfigOpt = None,
    llm: LLMOpt = None,
    embedder: EmbedderOpt = None,
    chunk_tokens: ChunkOpt = None,
    max_sessions: SessionsOpt = None,
    consolidate: ConsolidateOpt = True,
    top_k: TopKOpt = 10,
    cache: CacheOpt = None,
    json_out: JsonOpt = None,
    report: ReportOpt = None,
    quiet: QuietOpt = False,
    answer_llm: Annotated[
        str | None,
        typer.Option(
            "--answer-llm",
            help="Reader LLM: a provider name, a config file or inline JSON "
            "(default: the config's LLM).",
        ),
    ] = None,
    judge_llm: Annotated[
        str | None,
        typer.Option("--judge-llm", help="Judge LLM, as --answer-llm (default: the answer LLM)."),
    ] = None,
    max_questions: Annotated[
        int | None,
        typer.Option("--max-questions", min=1, help="Only the first N questions per conversation."),
    ] = None,
    max_context_tokens: Annotated[
        int | None,
        typer.Option(
            "--max-context-tokens", min=1, help="Cap every reader context (cl100k tokens)."
        ),
    ] = None,
    no_llm_cache: Annotated[
        bool,
        typer.Option(
            "--no-llm-cache", help="Ask the LLMs again instead of reusing cached replies."
        ),
    ] = False,
) -> None:
    """Answer, judge and score each question: judge accuracy, token F1 and BLEU-1.

    The judge uses the benchmark's published prompt (Mem0's for LoCoMo, LongMemEval's own);
    replies are cached on disk, so a rerun asks the LLMs nothing new.
    """
    spec = _spec(
        dataset,
        data,
        sample,
        system,
        config,
        llm,
        embedder,
        chunk_tokens,
        max_sessions,
        consolidate,
        200,
        top_k,
        cache,
    )
    reader = llm_from_spec(answer_llm, spec.config.llm)
    grader = reader if judge_llm is None else llm_from_spec(judge_llm, spec.config.llm)
    if not reader.available or not grader.available:
        raise ConfigError(
            "QA needs an LLM: give --answer-llm (e.g. local, or an OpenAI-"
            "compatible endpoint config); the configured LLM is 'none'"
        )
    settings = QASettings(
        answer_llm=reader,
        judge_llm=grader,
        cache=CallCache(None if no_llm_cache else spec.cache_dir / "llm-calls"),
        top_k=top_k,
        max_context_tokens=max_context_tokens,
        max_questions=max_questions,
    )
    try:
        _execute("qa", spec, quiet, json_out, report, settings)
    finally:
        reader.close()
        if grader is not reader:
            grader.close()


def main(argv: list[str] | None = None) -> int:
    """Run ``bench_app`` standalone (``python -m lightmem_bench.cli``)."""
    try:
        typer.main.get_command(bench_app).main(args=argv, prog_name="lightmem bench")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    except LightMemError as exc:
        Console(stderr=True, highlight=False).print(f"error: {exc}", style="red", markup=False)
        return 1
    return 0


__all__ = ["bench_app", "main"]

if __name__ == "__main__":
    raise SystemExit(main())


def usable_cache(path: Path) -> Path:
    """The bench cache directory, created; an :class:`InputError` saying why it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the cache directory {str(path)!r}: {exc.strerror}; pass --cache "
            f"with a writable directory"
        ) from None
    return path
