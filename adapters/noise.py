"""Differentially private counts.

Mechanism. A released table of counts gets discrete Laplace noise (OpenDP's `make_laplace` on
integer vectors, the geometric mechanism of Ghosh, Roughgarden & Sundararajan 2009) of scale
`sensitivity / epsilon`, then every noisy count below the minimum cell count k is withheld. The
noise comes first: suppressing on true counts would make "withheld" itself reveal that a true
count is below k, so the threshold must only ever see noisy values (post-processing of an
epsilon-DP release stays epsilon-DP).

Sensitivity. The unit of privacy is one incident: adding or removing one incident changes one
cell of a partitioned count (one H3 cell and one month, say) by one, so the L1 sensitivity of the
whole table is 1. A person involved in m incidents is protected at m * epsilon (group privacy);
tables that count persons, or let one incident fall into several cells, need a larger
sensitivity, which `privatise` takes as an argument.

Domain. The cells a table may release are fixed in advance from public geography and the
calendar (`domain`), never taken from the data: releasing only the cells that hold incidents
would tell which cells hold none. Counts outside the domain are dropped.

Budget. What a release costs and which accounts it is charged to is the gateway's part
(`gateway.protocol.release`, `gateway.audit.releases`, docs/adr/0009); the noise is applied
here, at the adapter, or in the evaluation (tools/analytics).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Collection, Hashable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

__all__ = [
    "CountNoise",
    "DrawnNoise",
    "Release",
    "laplace_scale",
    "opendp_discrete_laplace",
    "prepare",
    "privatise",
]

K = TypeVar("K", bound=Hashable)


class CountNoise(Protocol):
    """Adds noise of the given scale to each count, independently."""

    def __call__(self, counts: Sequence[int], scale: float) -> list[int]: ...


def laplace_scale(epsilon: float, sensitivity: int = 1) -> float:
    """Scale of the (discrete) Laplace noise that makes a sensitivity-`sensitivity` count
    epsilon-differentially private: b = sensitivity / epsilon."""
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a positive number, not {epsilon}")
    if sensitivity < 1:
        raise ValueError(f"sensitivity must be at least 1, not {sensitivity}")
    return sensitivity / epsilon


def opendp_discrete_laplace(counts: Sequence[int], scale: float) -> list[int]:
    """Discrete Laplace noise from OpenDP, checked against OpenDP's own privacy map.

    OpenDP draws from the operating system's CSPRNG, so this noise cannot be seeded.
    """
    import opendp.prelude as dp

    dp.enable_features("contrib")
    space = dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
    measurement = dp.m.make_laplace(*space, scale=scale)
    # The map gives the epsilon spent for an L1 distance of 1 between neighbouring inputs.
    spent = float(measurement.map(1))  # type: ignore[no-untyped-call]
    if spent > 1.0 / scale + 1e-12:
        raise RuntimeError(f"OpenDP's Laplace of scale {scale} spends {spent}, not 1/scale")
    noisy: list[int] = measurement([int(c) for c in counts])
    return noisy


def prepare() -> None:
    """Load OpenDP and draw once on a zero, discarded, before the adapter serves.

    Importing OpenDP takes about 0.35 s, which the first noisy release after a start would
    otherwise wait for; and an adapter whose noise mechanism does not work (a missing or
    broken OpenDP, a privacy map that disagrees) fails at start instead of at its first
    release.
    """
    opendp_discrete_laplace([0], 1.0)


# Threads that draw noise ahead (`DrawnNoise`): OpenDP's sampler runs in Rust without the GIL.
_DRAWING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="noise")


class DrawnNoise:
    """Discrete Laplace noise for a table of `size` counts, drawn from OpenDP before the counts
    are known: started at once, in `parts` pieces on worker threads, so the drawing (about
    20 us a count) overlaps reading the counts from the database.

    The mechanism is unchanged. OpenDP's discrete Laplace on an integer vector releases
    x + Z, Z drawn independently of x from the same distribution for each count; this draws Z
    by applying the same OpenDP measurement (its privacy map checked) to a vector of zeros,
    and adds x when called. One instance noises one table, once: a second call fails, so no
    noise is ever reused.
    """

    def __init__(self, size: int, scale: float, parts: int = 2) -> None:
        if size < 0 or parts < 1:
            raise ValueError("size cannot be negative and parts must be at least 1")
        self.size = size
        self.scale = scale
        bounds = [size * i // parts for i in range(parts + 1)]
        self._parts: list[Future[list[int]]] = [
            _DRAWING.submit(opendp_discrete_laplace, [0] * (b - a), scale)
            for a, b in itertools.pairwise(bounds)
        ]
        self._used = False
        self._lock = threading.Lock()

    def __call__(self, counts: Sequence[int], scale: float) -> list[int]:
        with self._lock:
            if self._used:
                raise RuntimeError("this noise was already added to a table; draw new noise")
            self._used = True
        if scale != self.scale or len(counts) != self.size:
            raise RuntimeError(
                f"noise drawn for {self.size} counts at scale {self.scale}, asked for "
                f"{len(counts)} at scale {scale}"
            )
        noise = [z for part in self._parts for z in part.result()]
        return [int(c) + z for c, z in zip(counts, noise, strict=True)]


@dataclass(frozen=True, slots=True)
class Release(Generic[K]):
    """A table of counts as released: noisy where epsilon is set, with small cells withheld.

    `counts` holds the released cells; `suppressed` the cells of the domain that were withheld
    because their (noisy) count fell below `min_count`. A withheld cell is known only to be
    small, so methods that need a value for it use `imputed`.
    """

    counts: Mapping[K, int]
    suppressed: frozenset[K]
    epsilon: float | None
    min_count: int

    @property
    def imputed(self) -> int:
        """The value a withheld cell stands in for: the middle of 0..min_count-1, rounded down."""
        return max(0, (self.min_count - 1) // 2)


def privatise(
    counts: Mapping[K, int],
    *,
    domain: Collection[K],
    epsilon: float | None,
    min_count: int,
    sensitivity: int = 1,
    noise: CountNoise = opendp_discrete_laplace,
) -> Release[K]:
    """Release `counts` over a fixed `domain`: noise first (if `epsilon`), then suppress below k.

    Cells of `domain` missing from `counts` are zero; counts outside `domain` are not released.
    Without `epsilon` the counts are exact and only the minimum cell count applies. Noisy counts
    are clamped at zero, which is post-processing and costs no privacy.
    """
    if min_count < 0:
        raise ValueError(f"the minimum cell count cannot be negative, not {min_count}")
    keys = list(domain)
    true = [int(counts.get(k, 0)) for k in keys]
    if epsilon is None:
        values = true
    else:
        values = noise(true, laplace_scale(epsilon, sensitivity))
        if len(values) != len(true):
            raise RuntimeError("the noise mechanism returned a different number of counts")
    kept: dict[K, int] = {}
    withheld: set[K] = set()
    for key, value in zip(keys, values, strict=True):
        value = max(0, int(value))
        if value >= min_count and value > 0:
            kept[key] = value
        else:
            withheld.add(key)
    return Release(kept, frozenset(withheld), epsilon, min_count)
