"""The PNG encoder (``airflow_provider_oneatlas.sandbox.images``), checked with a decoder written here."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_provider_oneatlas.sandbox.images import encode_png
from tests.sandbox.http import decode_png


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_encode_png_round_trips(channels: int) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (7, 5, channels), dtype=np.uint8)
    width, height, colour, decoded = decode_png(encode_png(pixels, 5, 7, channels))
    assert (width, height, colour) == (5, 7, {1: 0, 3: 2, 4: 6}[channels])
    assert (decoded == pixels).all()


def test_encode_png_checks_its_input() -> None:
    with pytest.raises(ValueError):
        encode_png(b"\x00" * 10, 2, 2, 3)
    with pytest.raises(ValueError):
        encode_png(b"", 0, 2, 3)
    with pytest.raises(ValueError):
        encode_png(b"\x00" * 8, 2, 2, 2)
