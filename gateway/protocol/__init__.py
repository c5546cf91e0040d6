"""What every party shares, importing none of them (docs/adr/0025).

The query model (`model`, `limits`, `values`), the catalogue and planning (`catalog`,
`planning`, `capabilities`, `release`); the envelopes, one module per job (`signed_request`,
`signed_plan`, `sealing`, `attestation`, `evidence`, with `encoding`); the key registry
(`keys`), identities, mTLS and the development PKI (`identities`, `tls`, `pki`); canonical
JSON (`canonical`); the audit leaf format (`audit_entry`, `audit_names`, `audit_rows`,
`sealed_details`); H3 cells and the reference geography (`cells`, `geography`); and the
wire helpers every server uses (`wire`, `reflection`, `health_port`, `observability`).
"""
