"""onnxruntime's optimized graph of a model, kept on disk so that a process loads it ready.

The packaged MiniLM holds int8 weights that onnxruntime's basic optimizations fold into
float32 each time a session is made: that folding is most of a session's load (0.4-0.6 s on
this project's 2-core machines; the folded graph loads in ~0.2 s). The first session made of
a model writes its optimized graph into the cache directory; later ones, in any process,
load that file with no optimization to do. The vectors are the same, bit for bit.

The file is named by what decides its content: the source's path, size and modification
time, the optimization level and the onnxruntime version. It is written under a temporary
name and renamed into place, so a reader never sees a partial file and processes starting
together at most write it twice. A cache that cannot be written, or a file that does not
load, costs only the time saved: the session is made from the source, as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("lightmem.embedders")

#: Makes a session of a model file; ``optimized`` names where onnxruntime writes its
#: optimized graph (None: nowhere), ``optimize`` False loads a graph optimized before.
Make = Callable[[Path, Path | None, bool], Any]


def cache_dir(environ: dict[str, str] | None = None) -> Path:
    """``$LIGHTMEM_CACHE``, else ``$XDG_CACHE_HOME/lightmem``, else ``~/.cache/lightmem``."""
    env = os.environ if environ is None else environ
    if env.get("LIGHTMEM_CACHE"):
        return Path(env["LIGHTMEM_CACHE"])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lightmem"


def graph_path(model: Path, level: str, version: str, root: Path | None = None) -> Path:
    """Where the graph of ``model`` optimized at ``level`` (or quantized: ``"dynamic"``) by
    onnxruntime ``version`` is kept."""
    stat = model.stat()
    key = f"{model.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{level}\0{version}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return (root or cache_dir()) / "graphs" / f"{model.stem}-{level}-{digest}.onnx"


def quantized(model: Path, version: str, make: Make) -> Path:
    """``model`` with int8 activations as well as weights: onnxruntime's dynamic
    quantization (int8 weights per output channel) of its basic-optimized float32 graph,
    made once into the cache. Raises ImportError without the ``onnx`` package, OSError
    when the cache cannot be written."""
    target = graph_path(model, "dynamic", version)
    if target.is_file():
        return target
    from onnxruntime.quantization import QuantType, quantize_dynamic  # needs ``onnx``

    target.parent.mkdir(parents=True, exist_ok=True)
    floats, partial = _partial(target, "float"), _partial(target, "int8")
    try:
        make(model, floats, True)
        with _quiet("onnxruntime"):
            quantize_dynamic(floats, partial, per_channel=True, weight_type=QuantType.QInt8)
        os.replace(partial, target)
    finally:
        _remove(floats)
        _remove(partial)
    return target


def _partial(target: Path, part: str) -> Path:
    """A temporary name beside ``target``, this process's and thread's own."""
    return target.with_name(
        f".{target.stem}.{part}.{os.getpid()}.{threading.get_ident()}.part.onnx"
    )


@contextlib.contextmanager
def _quiet(package: str) -> Iterator[None]:
    """Drop the warnings ``package`` logs on the root logger (onnxruntime's quantizer advises
    pre-processing on every run) for the time of the block; other records pass."""
    where = os.sep + package + os.sep

    def keep(record: logging.LogRecord) -> bool:
        return where not in record.pathname

    logging.root.addFilter(keep)
    try:
        yield
    finally:
        logging.root.removeFilter(keep)


def session(model: Path, level: str, version: str, make: Make) -> Any:
    """A session of ``model``: from its cached optimized graph when there is one, else made
    from ``model`` while the graph is written to the cache."""
    try:
        target = graph_path(model, level, version)
    except (OSError, RuntimeError):  # no source (``make`` says so in its words), no home
        return make(model, None, True)
    if target.is_file():
        try:
            return make(target, None, False)
        except Exception as exc:  # noqa: BLE001 - a bad cache file: made again below
            log.warning("cached graph %s does not load (%s); remaking it", target.name, exc)
            _remove(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.debug("no graph cache at %s: %s", target.parent, exc)
        return make(model, None, True)
    partial = _partial(target, "graph")
    try:
        made = make(model, partial, True)
    except Exception as exc:  # noqa: BLE001 - the graph could not be written there
        _remove(partial)
        log.debug("graph cache not written: %s", exc)
        return make(model, None, True)  # a fault of the model itself is raised here
    try:
        os.replace(partial, target)
    except OSError as exc:  # onnxruntime could not write it, or the rename failed
        log.debug("graph cache not written: %s", exc)
        _remove(partial)
    return made


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
