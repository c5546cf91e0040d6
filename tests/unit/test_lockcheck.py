"""The offline lock check (tools/lockcheck.py, run by `make lint`) against the real lock."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tools.lockcheck import check, parse_lock

ROOT = Path(__file__).resolve().parents[2]
LOCK = (ROOT / "requirements.lock").read_text("utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def _with_dependencies(extra: list[str]) -> dict[str, object]:
    project = dict(PYPROJECT["project"])
    project["dependencies"] = [*project["dependencies"], *extra]
    return {**PYPROJECT, "project": project}


def test_the_committed_lock_matches_the_project() -> None:
    assert check(LOCK, PYPROJECT) == []


def test_every_pin_is_exact_and_hashed() -> None:
    pins, problems = parse_lock(LOCK)
    assert problems == []
    assert "grpcio" in pins
    assert all(p.hashes >= 1 for p in pins.values())


def test_a_new_dependency_missing_from_the_lock_is_reported() -> None:
    problems = check(LOCK, _with_dependencies(["leftpad-not-a-real-one>=1"]))
    assert any("leftpad-not-a-real-one" in p and "make lock" in p for p in problems)


def test_a_range_the_pin_falls_outside_is_reported() -> None:
    problems = check(LOCK, _with_dependencies(["grpcio>=99"]))
    assert any(p.startswith("grpcio==") and "outside grpcio>=99" in p for p in problems)


def test_a_stale_pin_is_reported() -> None:
    stale = LOCK + "leftpad==1.0.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"
    assert "leftpad is in the lock but nothing requires it; run `make lock`" in " ".join(
        check(stale, PYPROJECT)
    )


def test_an_unhashed_or_inexact_line_is_reported() -> None:
    edited = re.sub(r"^(aiofiles)==", r"\1>=", LOCK, count=1, flags=re.M)
    _, problems = parse_lock(edited)
    assert any("not an exact pin" in p for p in problems)
    unhashed = LOCK + "leftpad==1.0.0\n"
    _, problems = parse_lock(unhashed)
    assert problems == ["leftpad has no --hash in the lock"]


def test_a_pin_the_venv_does_not_have_is_reported() -> None:
    edited = re.sub(r"^grpcio==[^ ]+", "grpcio==1.0.0", LOCK, count=1, flags=re.M)
    problems = check(edited, PYPROJECT)
    assert any("lock pins 1.0.0" in p and "reinstall" in p for p in problems)
