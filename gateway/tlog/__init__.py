"""Transparency-log primitives, the project's public verification API (docs/adr/0025).

Pure functions, no I/O, used by every party: `merkle` (RFC 9162 hashing and proof
verification), `subtree_proofs` (the Merkle Tree Certificates draft's subtree proofs),
`subtrees` (roots and proofs from stored complete subtrees), `note` (C2SP signed notes),
`checkpoint` and `mldsa` (checkpoints and their Ed25519 and ML-DSA cosignatures), `proof`
(C2SP tlog-proof), `tiles` (C2SP tlog-tiles), `witness_policy` (C2SP tlog-policy) and
`witness_protocol` (C2SP tlog-witness).
"""
