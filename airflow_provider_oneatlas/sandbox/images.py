"""Synthetic imagery for the sandbox: a tiny PNG encoder and a deterministic "satellite scene".

No imaging library is needed: PNG is zlib-compressed scanlines in CRC-checked chunks, and the scene is
value noise computed with numpy (which shapely already depends on). The scene is a function of the
longitude/latitude of each pixel and of a seed derived from the item id, so a quicklook and the WMTS
tiles of the same item show the same landscape and neighbouring tiles join up.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

import numpy as np
import numpy.typing as npt

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_U64 = np.uint64
_MASK53 = (1 << 53) - 1

# Palette stops for the terrain: deep water, shallow water, sand, fields, forest, rock, bare soil.
_STOPS = np.array([0.0, 0.26, 0.3, 0.34, 0.52, 0.72, 0.86, 1.0])
_COLOURS = np.array(
    [
        [14, 38, 66],
        [32, 78, 108],
        [184, 170, 130],
        [128, 140, 82],
        [72, 104, 56],
        [44, 72, 42],
        [120, 108, 92],
        [214, 206, 196],
    ],
    dtype=np.float64,
)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(
    pixels: npt.NDArray[np.uint8] | bytes, width: int, height: int, channels: int = 3, *, level: int = 6
) -> bytes:
    """Encode 8-bit greyscale (1), RGB (3) or RGBA (4) pixels, row-major, as a PNG file."""
    colour_types = {1: 0, 3: 2, 4: 6}
    if channels not in colour_types:
        raise ValueError(f"channels must be 1, 3 or 4, not {channels}")
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, not {width}x{height}")
    array = np.frombuffer(pixels, dtype=np.uint8) if isinstance(pixels, bytes) else np.asarray(pixels, np.uint8)
    if array.size != width * height * channels:
        raise ValueError(f"expected {width * height * channels} bytes of pixels, got {array.size}")
    rows = array.reshape(height, width * channels)
    # Each scanline starts with its filter type; 0 (none) keeps the encoder trivial.
    raw = np.zeros((height, width * channels + 1), dtype=np.uint8)
    raw[:, 1:] = rows
    header = struct.pack(">IIBBBBB", width, height, 8, colour_types[channels], 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw.tobytes(), level))
        + _chunk(b"IEND", b"")
    )


def seed_for(text: str) -> int:
    """A stable 53-bit seed from a string (an item id)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") & _MASK53


def _hash01(ix: npt.NDArray[np.int64], iy: npt.NDArray[np.int64], seed: int) -> npt.NDArray[np.float64]:
    """Pseudo-random value in [0, 1) for each lattice point ``(ix[j], iy[i])``: shape (len(iy), len(ix))."""
    x = ix.astype(np.int64).view(np.uint64) * _U64(0x9E3779B97F4A7C15)
    y = iy.astype(np.int64).view(np.uint64) * _U64(0xC2B2AE3D27D4EB4F)
    h = y[:, None] ^ x[None, :] ^ _U64(seed)
    h ^= h >> _U64(33)
    h *= _U64(0xFF51AFD7ED558CCD)
    h ^= h >> _U64(33)
    h *= _U64(0xC4CEB9FE1A85EC53)
    h ^= h >> _U64(33)
    return (h >> _U64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _smooth(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return t * t * (3.0 - 2.0 * t)


def value_noise(
    xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64], frequency: float, seed: int
) -> npt.NDArray[np.float64]:
    """Smooth noise in [0, 1) on the grid ``xs`` (columns) x ``ys`` (rows); ``frequency`` cells per unit.

    The grid is separable, so the lattice is hashed once and interpolated along x then along y.
    """
    fx = xs * frequency
    fy = ys * frequency
    x0 = np.floor(fx).astype(np.int64)
    y0 = np.floor(fy).astype(np.int64)
    xmin, ymin = int(x0.min()), int(y0.min())
    lattice = _hash01(
        np.arange(xmin, int(x0.max()) + 2, dtype=np.int64), np.arange(ymin, int(y0.max()) + 2, dtype=np.int64), seed
    )
    cx = x0 - xmin
    cy = y0 - ymin
    # float32 halves the memory traffic of the full-size steps; plenty for 8-bit pixels.
    wx = _smooth(fx - x0).astype(np.float32)
    wy = _smooth(fy - y0).astype(np.float32)[:, None]
    lat32 = lattice.astype(np.float32)
    along_y = lat32[cy, :] * (1.0 - wy) + lat32[cy + 1, :] * wy  # (rows, lattice columns): small
    result = along_y[:, cx]
    result *= 1.0 - wx
    result += along_y[:, cx + 1] * wx
    out: npt.NDArray[np.float64] = result.astype(np.float64, copy=False)
    return out


def fractal_noise(
    xs: npt.NDArray[np.float64],
    ys: npt.NDArray[np.float64],
    seed: int,
    *,
    base_frequency: float,
    pixel_size: float,
    max_octaves: int = 7,
) -> npt.NDArray[np.float64]:
    """Sum of octaves of value noise, skipping octaves finer than four pixels (they would only alias)."""
    total = np.zeros((ys.size, xs.size), dtype=np.float64)
    weight_sum = 0.0
    frequency, weight = base_frequency, 1.0
    for octave in range(max_octaves):
        if octave > 0 and 1.0 / frequency < 4.0 * pixel_size:
            break
        total += weight * value_noise(xs, ys, frequency, (seed + 0x632BE5AB * (octave + 1)) & _MASK53)
        weight_sum += weight
        frequency *= 2.0
        weight *= 0.55
    result: npt.NDArray[np.float64] = total / weight_sum
    return result


def render_scene(
    seed: int,
    lons: npt.NDArray[np.float64],
    lats: npt.NDArray[np.float64],
    *,
    cloud_cover: float = 0.0,
    mask: npt.NDArray[np.bool_] | None = None,
    alpha: bool = False,
) -> npt.NDArray[np.uint8]:
    """An RGB(A) image of shape (len(lats), len(lons), 3 or 4) for pixel centres at ``lons`` x ``lats``.

    Pixels where ``mask`` is False are black (RGB) or transparent (RGBA).
    """
    pixel = max(float(np.abs(np.diff(lons)).max(initial=0.0)), float(np.abs(np.diff(lats)).max(initial=0.0)), 1e-9)
    terrain = fractal_noise(lons, lats, seed, base_frequency=8.0, pixel_size=pixel)
    # Stretch the noise (which bunches around 0.5) over the whole palette.
    terrain = np.clip((terrain - 0.5) * 2.2 + 0.5, 0.0, 1.0)
    rgb = np.empty((*terrain.shape, 3), dtype=np.float64)
    for channel in range(3):
        rgb[..., channel] = np.interp(terrain, _STOPS, _COLOURS[:, channel])
    texture = value_noise(lons, lats, 1.0 / (pixel * 3.0), (seed ^ 0x5DEECE66D) & _MASK53)
    rgb *= (0.9 + 0.2 * texture)[..., None]
    if cloud_cover > 0:
        clouds = fractal_noise(
            lons, lats, (seed ^ 0x2545F491) & _MASK53, base_frequency=12.0, pixel_size=pixel, max_octaves=5
        )
        clouds = np.clip((clouds - 0.5) * 2.0 + 0.5, 0.0, 1.0)
        threshold = 1.0 - min(cloud_cover, 100.0) / 100.0
        opacity = np.clip((clouds - threshold) / 0.12, 0.0, 1.0)[..., None]
        rgb = rgb * (1.0 - opacity) + 245.0 * opacity
    channels = 4 if alpha else 3
    out = np.zeros((*terrain.shape, channels), dtype=np.uint8)
    out[..., :3] = np.clip(rgb, 0, 255).astype(np.uint8)
    if alpha:
        out[..., 3] = 255
    if mask is not None:
        out[~mask] = 0
    return out
