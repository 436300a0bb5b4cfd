"""Webhook signatures: a fixed vector, and everything ``verify`` must refuse."""

from __future__ import annotations

import pytest

from forecasting.notify.signing import SignatureError, compute_signature, sign, verify

# Computed once, independently of this code, with:
#   printf '%s' '1700000000.{"id":"evt_test","type":"alert.opened"}' \
#     | openssl dgst -sha256 -hmac 'whsec_bordercast_test_vector'
VECTOR_SECRET = "whsec_bordercast_test_vector"
VECTOR_T = 1700000000
VECTOR_BODY = b'{"id":"evt_test","type":"alert.opened"}'
VECTOR_HEX = "bb227f566d710e4e16dbae6c09919af897ca0d2e18fc39f4f52d078e5c4527e4"
VECTOR_HEADER = f"t={VECTOR_T},v1={VECTOR_HEX}"


def test_signature_matches_the_openssl_vector() -> None:
    assert compute_signature(VECTOR_T, VECTOR_BODY, VECTOR_SECRET) == VECTOR_HEX
    assert sign(VECTOR_BODY, VECTOR_SECRET, timestamp=VECTOR_T) == VECTOR_HEADER


def test_verify_accepts_the_vector_within_tolerance() -> None:
    assert verify(VECTOR_BODY, VECTOR_HEADER, VECTOR_SECRET, now=VECTOR_T + 299) == VECTOR_T


def test_verify_accepts_any_v1_for_key_rotation() -> None:
    header = f"t={VECTOR_T},v1={'0' * 64},v1={VECTOR_HEX},v0=ignored"
    assert verify(VECTOR_BODY, header, VECTOR_SECRET, now=VECTOR_T) == VECTOR_T


@pytest.mark.parametrize(
    ("payload", "header", "secret", "now", "message"),
    [
        (VECTOR_BODY + b" ", VECTOR_HEADER, VECTOR_SECRET, VECTOR_T, "no signature .* matches"),
        (VECTOR_BODY, VECTOR_HEADER, "whsec_other_secret", VECTOR_T, "no signature .* matches"),
        (
            VECTOR_BODY,
            f"t={VECTOR_T + 1},v1={VECTOR_HEX}",
            VECTOR_SECRET,
            VECTOR_T,
            "no signature .* matches",
        ),
        (VECTOR_BODY, VECTOR_HEADER, VECTOR_SECRET, VECTOR_T + 301, "more than 300s from now"),
        (VECTOR_BODY, VECTOR_HEADER, VECTOR_SECRET, VECTOR_T - 301, "more than 300s from now"),
        (VECTOR_BODY, f"v1={VECTOR_HEX}", VECTOR_SECRET, VECTOR_T, "no timestamp"),
        (VECTOR_BODY, f"t={VECTOR_T}", VECTOR_SECRET, VECTOR_T, "no v1= signature"),
        (VECTOR_BODY, f"t=soon,v1={VECTOR_HEX}", VECTOR_SECRET, VECTOR_T, "non-integer"),
        (VECTOR_BODY, "", VECTOR_SECRET, VECTOR_T, "missing Bordercast-Signature"),
    ],
    ids=[
        "tampered-body",
        "wrong-secret",
        "tampered-timestamp",
        "too-old",
        "too-far-ahead",
        "no-t",
        "no-v1",
        "bad-t",
        "empty",
    ],
)
def test_verify_rejects(payload: bytes, header: str, secret: str, now: int, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify(payload, header, secret, now=now)


def test_signature_error_is_a_value_error() -> None:
    """Receivers that only know the standard library can still catch it."""
    with pytest.raises(ValueError):
        verify(VECTOR_BODY, "t=1,v1=00", VECTOR_SECRET, tolerance=None)
