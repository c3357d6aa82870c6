"""Reads the DIMAP V2 metadata (``DIM_*.XML``) of a Pleiades, Pleiades Neo or SPOT 6/7 delivery.

Only what a STAC Item needs, by the element paths of the DIMAP V2 format: a missing element gives
``None`` (products differ: a SENSOR product has no projected CRS, older ones no FWHM), never an error.
The file is parsed with the standard library (expat refuses entity expansion bombs); its size is
capped before parsing.
"""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, Any

#: A DIMAP file is a few hundred kilobytes; anything far larger is not one.
MAX_DIMAP_BYTES = 16 * 1024 * 1024


class DimapError(ValueError):
    """The file is not a readable DIMAP document."""


@dataclass(frozen=True)
class Band:
    """One spectral band (``Band_Spectral_Range``), wavelengths in micrometres."""

    id: str
    min: float | None = None
    max: float | None = None
    fwhm_min: float | None = None
    fwhm_max: float | None = None

    @property
    def center_wavelength(self) -> float | None:
        low, high = (self.fwhm_min, self.fwhm_max) if self.fwhm_min is not None else (self.min, self.max)
        return None if low is None or high is None else round((low + high) / 2, 6)

    @property
    def full_width_half_max(self) -> float | None:
        if self.fwhm_min is None or self.fwhm_max is None:
            return None
        return round(self.fwhm_max - self.fwhm_min, 6)


@dataclass(frozen=True)
class DimapMetadata:
    """What a STAC Item takes from a DIMAP document (``None`` where the document is silent)."""

    dataset_name: str | None = None
    footprint: dict[str, Any] | None = None  # GeoJSON Polygon from Dataset_Extent
    acquired: datetime | None = None
    mission: str | None = None  # PHR, SPOT, PNEO
    mission_index: str | None = None  # 1A, 6, 3
    instrument: str | None = None
    cloud_cover: float | None = None
    snow_cover: float | None = None
    incidence_angle: float | None = None
    viewing_angle: float | None = None  # off-nadir
    azimuth_angle: float | None = None
    sun_azimuth: float | None = None
    sun_elevation: float | None = None
    gsd: float | None = None
    processing_level: str | None = None
    product_type: str | None = None
    spectral_processing: str | None = None
    radiometric_processing: str | None = None
    crs_code: str | None = None
    data_format: str | None = None
    data_files: tuple[str, ...] = ()  # DATA_FILE_PATH hrefs, relative to the DIMAP file
    rows: int | None = None
    columns: int | None = None
    bits: int | None = None
    bands: tuple[Band, ...] = field(default_factory=tuple)
    processing_center: str | None = None
    software: str | None = None
    production_date: datetime | None = None
    commercial_reference: str | None = None

    @property
    def platform(self) -> str | None:
        """The catalogue's platform name (``PHR1A``, ``SPOT7``, ``PNEO3``)."""
        if not self.mission:
            return None
        return self.mission + (self.mission_index or "")


def _text(root: ET.Element, path: str) -> str | None:
    element = root.find(path)
    if element is None or element.text is None or not element.text.strip():
        return None
    return element.text.strip()


def _float(root: ET.Element, path: str) -> float | None:
    text = _text(root, path)
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def _int(root: ET.Element, path: str) -> int | None:
    value = _float(root, path)
    return None if value is None else int(value)


def _datetime(text: str | None) -> datetime | None:
    if not text:
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # Python before 3.11 takes at most 6 fraction digits; DIMAP writes up to 9.
    head, dot, rest = value.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        value = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _centre(root: ET.Element) -> ET.Element | None:
    """The ``Located_Geometric_Values`` of the scene centre (the first one when none says Center)."""
    located = root.findall("./Geometric_Data/Use_Area/Located_Geometric_Values")
    for element in located:
        if (_text(element, "LOCATION_TYPE") or "").lower() == "center":
            return element
    return located[0] if located else None


def parse_dimap(data: bytes) -> DimapMetadata:
    """The metadata of a DIMAP V2 document, or a ``DimapError``."""
    if len(data) > MAX_DIMAP_BYTES:
        raise DimapError(f"{len(data)} bytes is too large for a DIMAP document")
    try:
        root = ET.fromstring(data)  # noqa: S314 - a delivery's own metadata; etree expands no external entities
    except ET.ParseError as exc:
        raise DimapError(f"not XML: {exc}") from None
    if root.tag != "Dimap_Document":
        raise DimapError(f"the root element is <{root.tag}>, not <Dimap_Document>")

    vertices = []
    for vertex in root.findall("./Dataset_Content/Dataset_Extent/Vertex"):
        lon, lat = _float(vertex, "LON"), _float(vertex, "LAT")
        if lon is not None and lat is not None:
            vertices.append([lon, lat])
    footprint = None
    if len(vertices) >= 3:
        footprint = {"type": "Polygon", "coordinates": [[*vertices, vertices[0]]]}

    centre = _centre(root)
    acquired = _datetime(_text(centre, "TIME")) if centre is not None else None
    if acquired is None:
        date = _text(root, "./Dataset_Sources/Source_Identification/Strip_Source/IMAGING_DATE")
        time = _text(root, "./Dataset_Sources/Source_Identification/Strip_Source/IMAGING_TIME")
        acquired = _datetime(f"{date}T{time or '00:00:00'}") if date else None

    def angle(name: str) -> float | None:
        return None if centre is None else _float(centre, name)

    bands = []
    for spectral in root.findall(
        "./Radiometric_Data/Radiometric_Calibration/Instrument_Calibration/Band_Measurement_List/Band_Spectral_Range"
    ):
        band_id = _text(spectral, "BAND_ID")
        if band_id is None:
            continue
        # Wavelengths are in micrometres; some products give nanometres.
        scale = 0.001 if (_text(spectral, "MEASURE_UNIT") or "").lower().startswith("nanomet") else 1.0

        def wavelength(path: str, element: ET.Element = spectral, factor: float = scale) -> float | None:
            value = _float(element, path)
            return None if value is None else round(value * factor, 6)

        bands.append(
            Band(band_id, wavelength("MIN"), wavelength("MAX"), wavelength("FWHM/MIN"), wavelength("FWHM/MAX"))
        )

    crs = _text(root, "./Coordinate_Reference_System/Projected_CRS/PROJECTED_CRS_CODE") or _text(
        root, "./Coordinate_Reference_System/Geodetic_CRS/GEODETIC_CRS_CODE"
    )
    data_files = tuple(
        element.get("href", "")
        for element in root.findall("./Raster_Data/Data_Access/Data_Files/Data_File/DATA_FILE_PATH")
        if element.get("href")
    )
    return DimapMetadata(
        dataset_name=_text(root, "./Dataset_Identification/DATASET_NAME"),
        footprint=footprint,
        acquired=acquired,
        mission=_text(root, "./Dataset_Sources/Source_Identification/Strip_Source/MISSION"),
        mission_index=_text(root, "./Dataset_Sources/Source_Identification/Strip_Source/MISSION_INDEX"),
        instrument=_text(root, "./Dataset_Sources/Source_Identification/Strip_Source/INSTRUMENT"),
        cloud_cover=_float(root, "./Dataset_Content/CLOUD_COVERAGE"),
        snow_cover=_float(root, "./Dataset_Content/SNOW_COVERAGE"),
        incidence_angle=angle("Acquisition_Angles/INCIDENCE_ANGLE"),
        viewing_angle=angle("Acquisition_Angles/VIEWING_ANGLE"),
        azimuth_angle=angle("Acquisition_Angles/AZIMUTH_ANGLE"),
        sun_azimuth=angle("Solar_Incidences/SUN_AZIMUTH"),
        sun_elevation=angle("Solar_Incidences/SUN_ELEVATION"),
        gsd=_float(root, "./Processing_Information/Product_Settings/Sampling_Settings/RESAMPLING_SPACING")
        or angle("Ground_Sample_Distance/GSD_ACROSS_TRACK"),
        processing_level=_text(root, "./Processing_Information/Product_Settings/PROCESSING_LEVEL"),
        product_type=_text(root, "./Product_Information/Delivery_Identification/PRODUCT_TYPE"),
        spectral_processing=_text(root, "./Processing_Information/Product_Settings/SPECTRAL_PROCESSING"),
        radiometric_processing=_text(
            root, "./Processing_Information/Product_Settings/Radiometric_Settings/RADIOMETRIC_PROCESSING"
        ),
        crs_code=crs,
        data_format=_text(root, "./Raster_Data/Data_Access/DATA_FILE_FORMAT"),
        data_files=data_files,
        rows=_int(root, "./Raster_Data/Raster_Dimensions/NROWS"),
        columns=_int(root, "./Raster_Data/Raster_Dimensions/NCOLS"),
        bits=_int(root, "./Raster_Data/Raster_Encoding/NBITS"),
        bands=tuple(bands),
        processing_center=_text(root, "./Processing_Information/Production_Facility/PROCESSING_CENTER"),
        software=_text(root, "./Processing_Information/Production_Facility/SOFTWARE"),
        production_date=_datetime(_text(root, "./Product_Information/Delivery_Identification/PRODUCTION_DATE")),
        commercial_reference=_text(
            root, "./Product_Information/Delivery_Identification/Order_Identification/COMMERCIAL_REFERENCE"
        ),
    )


def is_dimap_name(name: str) -> bool:
    """``DIM_*.XML``: the DIMAP file of a dataset (a bundle has one per image: P and MS)."""
    base = posixpath.basename(name)
    return base.upper().startswith("DIM_") and base.upper().endswith(".XML")


def dimap_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [info for info in archive.infolist() if is_dimap_name(info.filename) and not info.is_dir()]


def read_dimap_from_zip(source: IO[bytes]) -> tuple[str, DimapMetadata] | None:
    """(member name, metadata) of the first DIMAP file in a zip; ``None`` when it holds none.

    Only the central directory and that member are read, so a seekable remote file (S3 through fsspec)
    costs a few ranged reads, not the whole zip.
    """
    with zipfile.ZipFile(source) as archive:
        members = dimap_members(archive)
        if not members:
            return None
        member = min(members, key=lambda info: info.filename)
        if member.file_size > MAX_DIMAP_BYTES:
            raise DimapError(f"{member.filename} has {member.file_size} bytes: too large for a DIMAP document")
        return member.filename, parse_dimap(archive.read(member))
