"""Bytes on the JSON API are strict standard base64, decoded at the door (schemas.Base64Bytes)."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from cablepin.cloud.schemas import ReceiptRequest, SignedCommandOut


def test_h5_base64_fields_reach_services_as_bytes() -> None:
    assert ReceiptRequest.model_validate({"receipt": "AAEC/w=="}).receipt == b"\x00\x01\x02\xff"


@pytest.mark.parametrize(
    "bad", ["not base64!", "AAEC/w", "AA EC", "AAEC-_8=", "AA==AA==", "A" * 4100, 12, None]
)
def test_u2_anything_but_strict_base64_is_refused_with_what_to_do(bad: object) -> None:
    with pytest.raises(ValidationError) as e:
        ReceiptRequest.model_validate({"receipt": bad})
    assert "base64" in str(e.value)


def test_bytes_go_out_as_base64_and_the_contract_says_so() -> None:
    out = SignedCommandOut(id="c1", kind="wipe", blob=b"\x00\xff")
    assert out.model_dump(mode="json")["blob"] == "AP8="
    assert out.blob == b"\x00\xff"
    schema = ReceiptRequest.model_json_schema()["properties"]["receipt"]
    assert schema["type"] == "string"
    assert schema["format"] == "byte"
    assert re.fullmatch(schema["pattern"], "AAEC/w==")
    assert not re.fullmatch(schema["pattern"], "AAEC/w")
