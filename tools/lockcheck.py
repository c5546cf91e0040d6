"""Check, offline, that requirements.lock matches pyproject.toml (`make lint`; docs/adr/0026).

`make lock` writes the lock with uv (`uv pip compile --generate-hashes`); recompiling needs the
package index, so `make lint` does not recompile. It checks instead, from the lock, the
pyproject and the metadata of the packages installed from the lock into `.venv`:

1. every line of the lock pins one distribution exactly (`name==version`) with at least one
   `--hash`, and names it once;
2. every requirement of the project (its dependencies and the `dev` extra, markers evaluated
   for this interpreter) is pinned, at a version its range admits;
3. every requirement of every pinned distribution (its own metadata, with the extras asked of
   it) is pinned too, at an admitted version: the lock is closed;
4. every pinned distribution is reached from the project's requirements: nothing stale;
5. what is installed is what the lock pins (else `make` has not reinstalled since the lock
   changed: it does when `.venv/.installed` is older than the lock).

Exit status 1 with one line per problem, naming what to run.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
EXTRAS = ("dev",)
REGENERATE = "run `make lock` and commit requirements.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Pin:
    name: str
    version: Version
    hashes: int


def parse_lock(text: str) -> tuple[dict[str, Pin], list[str]]:
    """The lock's pins by canonical name, and what is wrong with its lines."""
    pins: dict[str, Pin] = {}
    problems: list[str] = []
    # Join the backslash continuations: one requirement per logical line.
    logical = re.sub(r"\\\n", " ", text).splitlines()
    for line in logical:
        stripped = line.split("#", 1)[0].strip()
        if not stripped:
            continue
        match = _PIN.match(stripped)
        if match is None:
            problems.append(f"lock line is not an exact pin: {stripped[:80]!r}")
            continue
        name = canonicalize_name(match.group(1))
        hashes = len(_HASH.findall(stripped))
        if hashes == 0:
            problems.append(f"{name} has no --hash in the lock")
        if name in pins:
            problems.append(f"{name} is pinned twice in the lock")
        pins[name] = Pin(name, Version(match.group(2)), hashes)
    return pins, problems


def project_requirements(pyproject: Mapping[str, object]) -> list[Requirement]:
    project = pyproject["project"]
    assert isinstance(project, dict)
    lines: list[str] = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in EXTRAS:
        lines += list(optional.get(extra, []))
    return [Requirement(line) for line in lines]


def _applies(req: Requirement, extras: Iterable[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": e}) for e in ("", *extras))


def _requires_of(name: str) -> Iterator[Requirement]:
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return
    for line in dist.requires or ():
        try:
            yield Requirement(line)
        except InvalidRequirement:
            continue


def check(lock_text: str, pyproject: Mapping[str, object]) -> list[str]:
    """Every problem with the lock, as lines a person can act on; empty when it matches."""
    pins, problems = parse_lock(lock_text)
    reached: set[str] = set()
    # (requirement, who asked for it); extras asked of each distribution, as the walk finds them.
    queue: list[tuple[Requirement, str]] = [
        (r, "pyproject.toml") for r in project_requirements(pyproject)
    ]
    extras_of: dict[str, set[str]] = {}
    while queue:
        req, asker = queue.pop()
        name = canonicalize_name(req.name)
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{req} (from {asker}) is not in the lock; {REGENERATE}")
            continue
        if not req.specifier.contains(pin.version, prereleases=True):
            problems.append(
                f"{name}=={pin.version} in the lock is outside {req} (from {asker}); {REGENERATE}"
            )
        asked = extras_of.setdefault(name, set())
        new_extras = set(req.extras) - asked
        if name in reached and not new_extras:
            continue
        reached.add(name)
        asked |= new_extras
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is in the lock but not installed; run `make` to reinstall")
            continue
        if installed != pin.version:
            problems.append(
                f"{name} {installed} is installed but the lock pins {pin.version}; "
                "run `make` to reinstall from the lock"
            )
            continue
        for sub in _requires_of(name):
            if _applies(sub, asked):
                queue.append((sub, f"{name}{sorted(asked) if asked else ''}"))
    for stale in sorted(set(pins) - reached):
        problems.append(f"{stale} is in the lock but nothing requires it; {REGENERATE}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    args = parser.parse_args(argv)
    problems = check(args.lock.read_text("utf-8"), tomllib.loads(args.pyproject.read_text("utf-8")))
    for problem in problems:
        print(f"lockcheck: {problem}", file=sys.stderr)
    if not problems:
        print(f"lockcheck: {args.lock.name} matches {args.pyproject.name}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
