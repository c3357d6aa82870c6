"""The DIMAP V2 metadata file (``DIM_<item>.XML``) of a sandbox delivery.

Real Pleiades and SPOT 6/7 deliveries carry a ``Dimap_Document`` beside their JP2 images. This one has
the same element names and nesting for what downstream tools read from it: the dataset name, the
footprint (``Dataset_Content/Dataset_Extent/Vertex``), cloud and snow cover, the acquisition time and
angles (``Geometric_Data/Use_Area/Located_Geometric_Values``: ``Acquisition_Angles`` and
``Solar_Incidences``), the mission and instrument (``Dataset_Sources/.../Strip_Source``), the
processing level, spectral and radiometric processing (``Processing_Information/Product_Settings``),
the raster layout and the bands' spectral ranges (``Radiometric_Data/.../Band_Spectral_Range``).

The values come from the delivered item's catalogue feature (itself the ordered image's properties
plus the ordered options), so the XML agrees with what search and the order say. Deterministic: the
same feature gives the same bytes, as the zip must.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

#: Spectral ranges (micrometres) of the multispectral bands: (band id, min, max, FWHM min, FWHM max).
_BANDS: dict[str, tuple[tuple[str, float, float, float, float], ...]] = {
    "PHR": (
        ("B0", 0.43, 0.55, 0.455, 0.525),  # blue
        ("B1", 0.50, 0.62, 0.530, 0.590),  # green
        ("B2", 0.59, 0.71, 0.625, 0.695),  # red
        ("B3", 0.74, 0.94, 0.760, 0.890),  # near infrared
    ),
    "SPOT": (
        ("B0", 0.45, 0.53, 0.455, 0.525),
        ("B1", 0.52, 0.60, 0.530, 0.590),
        ("B2", 0.62, 0.70, 0.625, 0.695),
        ("B3", 0.75, 0.90, 0.760, 0.890),
    ),
    "PNEO": (
        ("B0", 0.45, 0.52, 0.450, 0.520),
        ("B1", 0.49, 0.61, 0.500, 0.600),
        ("B2", 0.60, 0.72, 0.620, 0.700),
        ("B3", 0.75, 0.94, 0.770, 0.880),
    ),
}
_INSTRUMENTS = {"PHR": "PHR", "SPOT": "NAOMI", "PNEO": "PNEO"}
#: Orbit height (km) for the off-nadir angle derived from the incidence angle.
_ORBIT_KM = {"PHR": 694.0, "SPOT": 694.0, "PNEO": 620.0}
_EARTH_RADIUS_KM = 6371.0


def _text(parent: ET.Element, tag: str, value: Any = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if value is not None:
        element.text = repr(value) if isinstance(value, float) else str(value)  # shortest exact form
    return element


def _ring(geometry: Mapping[str, Any] | None) -> list[tuple[float, float]]:
    """The exterior ring (without its closing vertex) of the footprint, the largest part of a MultiPolygon."""
    if not isinstance(geometry, Mapping):
        return []
    coordinates = geometry.get("coordinates") or []
    if geometry.get("type") == "MultiPolygon":
        rings = [polygon[0] for polygon in coordinates if polygon]
    elif geometry.get("type") == "Polygon":
        rings = coordinates[:1]
    else:
        return []
    if not rings:
        return []
    ring = max(rings, key=len)
    points = [(float(p[0]), float(p[1])) for p in ring]
    if len(points) > 1 and points[0] == points[-1]:
        points = points[:-1]
    return points


def _number(properties: Mapping[str, Any], key: str, default: float) -> float:
    value = properties.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def dimap_document(item_id: str, size: int, feature: Mapping[str, Any] | None = None) -> bytes:
    """The ``DIM_<item_id>.XML`` of a delivery of about ``size`` bytes whose catalogue feature is ``feature``."""
    properties: Mapping[str, Any] = (feature or {}).get("properties") or {}
    constellation = str(properties.get("constellation") or "PHR").upper()
    platform = str(properties.get("platform") or "PHR1A").upper()
    mission_index = platform[len(constellation) :] if platform.startswith(constellation) else platform[-2:]
    acquired = str(properties.get("acquisitionDate") or "2020-01-01T00:00:00.000Z")
    processing_level = str(properties.get("processingLevel") or "ORTHO")
    product_type = str(properties.get("productType") or "bundle")
    radiometric = str(properties.get("radiometricProcessing") or "REFLECTANCE")
    image_format = str(properties.get("format") or "image/jp2")
    crs_code = str(properties.get("crsCode") or "urn:ogc:def:crs:EPSG::4326")
    resolution = _number(properties, "resolution", 0.5)
    # A bundle's multispectral image is at four times the panchromatic resolution; pansharpened at it.
    pansharpened = product_type.startswith("pansharpened")
    gsd = resolution if pansharpened else resolution * 4
    incidence = _number(properties, "incidenceAngle", 0.0)
    ratio = _EARTH_RADIUS_KM / (_EARTH_RADIUS_KM + _ORBIT_KM.get(constellation, 694.0))
    off_nadir = math.degrees(math.asin(min(1.0, ratio * math.sin(math.radians(incidence)))))
    bits = 8 if radiometric == "DISPLAY" else 12
    ring = _ring((feature or {}).get("geometry"))
    image_name = f"IMG_{item_id}_R1C1.JP2"

    root = ET.Element("Dimap_Document", {"name": f"DIM_{item_id}.XML"})
    metadata = _text(root, "Metadata_Identification")
    _text(metadata, "METADATA_FORMAT", "DIMAP", version="2.0")
    _text(metadata, "METADATA_PROFILE", f"{constellation}_{processing_level}")
    _text(metadata, "METADATA_SUBPROFILE", "PRODUCT")
    _text(metadata, "METADATA_LANGUAGE", "en")

    dataset = _text(root, "Dataset_Identification")
    _text(dataset, "DATASET_NAME", str(properties.get("parentIdentifier") or item_id), version="1.0")
    _text(dataset, "DATASET_TYPE", "RASTER")
    _text(dataset, "DATASET_QL_PATH", href=f"PREVIEW_{item_id}.JPG")
    _text(dataset, "DATASET_TN_PATH", href=f"ICON_{item_id}.JPG")
    _text(dataset, "DATASET_SIZE", size, unit="bytes")
    _text(dataset, "PRODUCER", "OneAtlas sandbox (synthetic data)")

    content = _text(root, "Dataset_Content")
    extent = _text(content, "Dataset_Extent")
    _text(extent, "EXTENT_TYPE", "Polygon")
    for lon, lat in ring:
        vertex = _text(extent, "Vertex")
        _text(vertex, "LON", lon)
        _text(vertex, "LAT", lat)
    if ring:
        center = _text(extent, "Center")
        _text(center, "LON", sum(p[0] for p in ring) / len(ring))
        _text(center, "LAT", sum(p[1] for p in ring) / len(ring))
    _text(content, "CLOUD_COVERAGE", _number(properties, "cloudCover", 0.0), unit="percent")
    _text(content, "SNOW_COVERAGE", _number(properties, "snowCover", 0.0), unit="percent")

    product = _text(root, "Product_Information")
    delivery = _text(product, "Delivery_Identification")
    _text(delivery, "PRODUCTION_DATE", str(properties.get("processingDate") or acquired))
    _text(delivery, "JOB_ID", item_id)
    _text(delivery, "PRODUCT_TYPE", product_type)
    order = _text(delivery, "Order_Identification")
    _text(order, "COMMERCIAL_REFERENCE", str(properties.get("commercialReference") or ""))
    _text(order, "CUSTOMER_REFERENCE", str(properties.get("orderId") or ""))

    crs = _text(root, "Coordinate_Reference_System")
    if crs_code.endswith("::4326"):
        geodetic = _text(crs, "Geodetic_CRS")
        _text(geodetic, "GEODETIC_CRS_NAME", "WGS 84")
        _text(geodetic, "GEODETIC_CRS_CODE", crs_code)
    else:
        projected = _text(crs, "Projected_CRS")
        _text(projected, "PROJECTED_CRS_NAME", "WGS 84 / UTM zone " + crs_code[-2:])
        _text(projected, "PROJECTED_CRS_CODE", crs_code)

    raster = _text(root, "Raster_Data")
    access = _text(raster, "Data_Access")
    _text(access, "DATA_FILE_ORGANISATION", "BAND_COMPOSITE")
    _text(access, "DATA_FILE_FORMAT", image_format.split("/")[-1].upper(), version="2.0")
    _text(access, "DATA_FILE_TILES", "false")
    files = _text(access, "Data_Files")
    data_file = _text(files, "Data_File", tile_R="1", tile_C="1")
    _text(data_file, "DATA_FILE_PATH", href=image_name)
    dimensions = _text(raster, "Raster_Dimensions")
    if ring:
        lons = [p[0] for p in ring]
        lats = [p[1] for p in ring]
        middle = math.radians(sum(lats) / len(lats))
        width_m = (max(lons) - min(lons)) * 111_320.0 * math.cos(middle)
        height_m = (max(lats) - min(lats)) * 110_574.0
    else:
        width_m = height_m = 0.0
    _text(dimensions, "NROWS", max(1, round(height_m / gsd)))
    _text(dimensions, "NCOLS", max(1, round(width_m / gsd)))
    _text(dimensions, "NBANDS", 4)
    encoding = _text(raster, "Raster_Encoding")
    _text(encoding, "DATA_TYPE", "INTEGER")
    _text(encoding, "NBITS", bits)
    _text(encoding, "SIGN", "UNSIGNED")
    display = _text(_text(raster, "Raster_Display"), "Band_Display_Order")
    for channel, band in (("RED_CHANNEL", "B2"), ("GREEN_CHANNEL", "B1"), ("BLUE_CHANNEL", "B0")):
        _text(display, channel, band)

    radiometric_data = _text(root, "Radiometric_Data")
    calibration = _text(_text(radiometric_data, "Radiometric_Calibration"), "Instrument_Calibration")
    measurements = _text(calibration, "Band_Measurement_List")
    for band_id, low, high, fwhm_low, fwhm_high in _BANDS.get(constellation, _BANDS["PHR"]):
        spectral = _text(measurements, "Band_Spectral_Range")
        _text(spectral, "BAND_ID", band_id)
        _text(spectral, "MEASURE_UNIT", "micrometer")
        _text(spectral, "MIN", low)
        _text(spectral, "MAX", high)
        fwhm = _text(spectral, "FWHM")
        _text(fwhm, "MIN", fwhm_low)
        _text(fwhm, "MAX", fwhm_high)

    geometric = _text(root, "Geometric_Data")
    use_area = _text(geometric, "Use_Area")
    located = _text(use_area, "Located_Geometric_Values")
    _text(located, "TIME", acquired)
    _text(located, "LOCATION_TYPE", "Center")
    angles = _text(located, "Acquisition_Angles")
    _text(angles, "AZIMUTH_ANGLE", _number(properties, "azimuthAngle", 0.0), unit="deg")
    _text(angles, "VIEWING_ANGLE", round(off_nadir, 8), unit="deg")
    _text(angles, "INCIDENCE_ANGLE_ALONG_TRACK", _number(properties, "incidenceAngleAlongTrack", 0.0), unit="deg")
    _text(angles, "INCIDENCE_ANGLE_ACROSS_TRACK", _number(properties, "incidenceAngleAcrossTrack", 0.0), unit="deg")
    _text(angles, "INCIDENCE_ANGLE", incidence, unit="deg")
    solar = _text(located, "Solar_Incidences")
    _text(solar, "SUN_AZIMUTH", _number(properties, "illuminationAzimuthAngle", 0.0), unit="deg")
    _text(solar, "SUN_ELEVATION", _number(properties, "illuminationElevationAngle", 0.0), unit="deg")
    sampling = _text(located, "Ground_Sample_Distance")
    _text(sampling, "GSD_ACROSS_TRACK", gsd, unit="m")
    _text(sampling, "GSD_ALONG_TRACK", gsd, unit="m")

    processing = _text(root, "Processing_Information")
    facility = _text(processing, "Production_Facility")
    _text(facility, "SOFTWARE", str(properties.get("processorName") or "IMFv6"), version="6")
    _text(facility, "PROCESSING_CENTER", str(properties.get("processingCenter") or "AOC"))
    settings = _text(processing, "Product_Settings")
    _text(settings, "PROCESSING_LEVEL", processing_level)
    _text(settings, "SPECTRAL_PROCESSING", "PMS" if pansharpened else "MS")
    _text(_text(settings, "Sampling_Settings"), "RESAMPLING_SPACING", gsd, unit="m")
    _text(_text(settings, "Radiometric_Settings"), "RADIOMETRIC_PROCESSING", radiometric)

    sources = _text(root, "Dataset_Sources")
    strip = _text(_text(sources, "Source_Identification"), "Strip_Source")
    _text(strip, "MISSION", constellation)
    _text(strip, "MISSION_INDEX", mission_index)
    _text(strip, "INSTRUMENT", _INSTRUMENTS.get(constellation, constellation))
    _text(strip, "INSTRUMENT_INDEX", mission_index)
    date, _, time = acquired.partition("T")
    _text(strip, "IMAGING_DATE", date)
    _text(strip, "IMAGING_TIME", time.rstrip("Zz"))
    _text(strip, "SOURCE_ID", str(properties.get("sourceIdentifier") or ""))

    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode").encode() + b"\n"
