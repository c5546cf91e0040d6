"""Gerbang's verifiable audit log, the gateway's side: RFC 9162 Merkle tree, C2SP checkpoints
and cosignatures, in SQLite or PostgreSQL.

Split as Tessera splits a log (docs/adr/0031): `store` (the log: entries, tree, head,
checkpoints, cosignatures), `schema` and `migrations/`, one backend per SQL dialect
(`backend`, `sqlite`, `postgresql`), `nonces` (replay nonces), `details` (sealed details),
`writer` (group commit), `releases` (the privacy budget ledger); beside them `checkpoints`
(signing), `witnessing` (submitting to witnesses), `tiles` (publishing tlog-tiles) and
`service` (read access for oversight). Verifying the log is oversight's
(`gateway.oversight.verify`) with the pure primitives of `gateway.tlog`.
"""
