"""M6: the verifier's decoder. Whatever JSON it is given, it answers ``EvidenceError``
(naming what does not match) and nothing else."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cablepin.evidence import EvidenceError, verify_bundle
from cablepin.protocol import pki

CA_KEY = pki.generate_key()
CA_PEM = pki.certificate_pem(pki.make_factory_ca(CA_KEY, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def maps(*keys: str) -> Any:
    return st.lists(st.dictionaries(st.sampled_from(keys), JSON), max_size=3)


def shaped() -> Any:
    return st.fixed_dictionaries(
        {
            "format": st.just("cablepin/v1/receipt-evidence") | st.text(max_size=5),
            "zone": st.sampled_from(["Europe/Berlin", "UTC", "No/Where", ""]),
            "receipt": st.fixed_dictionaries(
                {"id": st.integers(), "total_wh": JSON, "amount": JSON}
            ),
            "lines": maps("serial", "epoch", "seq", "wh", "price", "price_ref"),
            "prices": maps("ref", "price", "valid_from", "valid_to"),
            "cables": maps("serial", "certificate", "chains"),
        }
    )


@settings(max_examples=300)
@given(JSON | shaped())
def test_m6_any_input_raises_only_evidence_error(bundle: Any) -> None:
    with pytest.raises(EvidenceError):
        verify_bundle(bundle, CA_PEM)


def test_m6_a_bad_factory_ca_is_named() -> None:
    with pytest.raises(EvidenceError, match="factory CA"):
        verify_bundle(
            {"format": "cablepin/v1/receipt-evidence"}, b"-----BEGIN CERTIFICATE-----\nnope\n"
        )
