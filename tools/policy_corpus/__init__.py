"""Internal, unstable: the parity corpus, input documents both engines must decide alike.

`parity_corpus()` returns named input documents, deterministically (a fixed seed): for every
purpose requests it allows, then the same requests broken one way at a time (unknown
caller, wrong legal basis, ungranted field, malformed filter, wrong types, missing keys,
limits and clock at and beyond their bounds, expired cases, awkward strings, ...), then
random combinations of those breakages. tests/integration/test_policy_parity.py runs every document
through both engines; the latency measurement reuses the allowed ones.

Most of it is data written as code: the allowed requests (`allowed`) and the named breakages
(`breakages`) are tables, built with the small helpers of `documents`; `parity_corpus` below
combines them.
"""

from __future__ import annotations

import contextlib
import copy
import random

from tools.policy_corpus.allowed import purpose_bases
from tools.policy_corpus.breakages import mutations, targeted, weird_string_mutations
from tools.policy_corpus.documents import NOW, SEED, Doc

__all__ = ["NOW", "parity_corpus", "purpose_bases"]


def parity_corpus() -> list[tuple[str, Doc]]:
    """Named input documents, the same on every call."""
    bases = purpose_bases()
    cases: list[tuple[str, Doc]] = [
        (f"allow/{name}", copy.deepcopy(doc)) for name, doc in bases.items()
    ]
    breakages = mutations()
    # Every breakage on one base per purpose.
    firsts: dict[str, str] = {}
    for name, doc in bases.items():
        firsts.setdefault(str(doc["request"]["purpose"]), name)
    for base in firsts.values():
        for m_name, mutate in breakages.items():
            doc = copy.deepcopy(bases[base])
            mutate(doc)
            cases.append((f"{base}/{m_name}", doc))
    for base in ("public-order/jaksel", "investigation/person"):
        for m_name, mutate in weird_string_mutations().items():
            doc = copy.deepcopy(bases[base])
            mutate(doc)
            cases.append((f"{base}/{m_name}", doc))
    cases.extend(targeted(bases))
    # Random pairs and triples of breakages on random bases.
    rng = random.Random(SEED)
    base_names, m_names = sorted(bases), sorted(breakages)
    for i in range(150):
        base = rng.choice(base_names)
        chosen = rng.sample(m_names, rng.choice((2, 3)))
        doc = copy.deepcopy(bases[base])
        for m_name in chosen:
            # An earlier breakage may have removed what this one edits.
            with contextlib.suppress(KeyError, TypeError, AttributeError):
                breakages[m_name](doc)
        cases.append((f"random/{i}/{base}/{'+'.join(chosen)}", doc))
    return cases
