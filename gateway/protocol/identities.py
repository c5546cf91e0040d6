"""The federation's named identities: SPIFFE IDs of the gateway, adapters and example callers.

The federation trust domain is `gerbang.jakarta.go.id`; an identity is
`spiffe://<federation>/<organisation>/<system>` and travels as the URI SAN of
the party's X.509 certificate.
"""

from __future__ import annotations

from typing import Final

FEDERATION: Final = "gerbang.jakarta.go.id"


def spiffe_id(organisation: str, system: str, federation: str = FEDERATION) -> str:
    return f"spiffe://{federation}/{organisation}/{system}"


GATEWAY_ID: Final = spiffe_id("gerbang", "gateway")

# Example callers of the development federation, by file slug. The registry in
# policies/registry/callers decides what each may ask; a certificate alone grants nothing.
EXAMPLE_CALLERS: Final[dict[str, str]] = {
    "dishub-atcs": spiffe_id("dishub", "atcs"),
    "dishub-parking": spiffe_id("dishub", "parking"),
    "citata-spatial": spiffe_id("citata", "spatial"),
    "bpbd-pusdalops": spiffe_id("bpbd", "pusdalops"),
    "jsc-command-centre": spiffe_id("jsc", "command-centre"),
    "pemkot-jaksel-command-centre": spiffe_id("pemkot-jaksel", "command-centre"),
    "reskrim": spiffe_id("polda-metro-jaya", "reskrim"),
    "samapta": spiffe_id("polda-metro-jaya", "samapta"),
    "dprd-komisi-a": spiffe_id("dprd", "komisi-a"),
    "kompolnas-oversight": spiffe_id("kompolnas", "oversight"),
}


def adapter_id(name: str) -> str:
    """SPIFFE ID of a police database adapter, e.g. `adapter_id("pmj-1")`."""
    return spiffe_id("polda-metro-jaya", f"adapter-{name}")
