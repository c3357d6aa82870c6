"""The DIMAP V2 reader: the sandbox's documents, a hand-written SPOT-like one, and broken input."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timezone

import pytest

from airflow_provider_oneatlas.sandbox.catalog import price_item_feature
from airflow_provider_oneatlas.sandbox.dimap import dimap_document
from airflow_provider_oneatlas.stac.dimap import (
    MAX_DIMAP_BYTES,
    DimapError,
    is_dimap_name,
    parse_dimap,
    read_dimap_from_zip,
)

#: A SPOT 7 ortho product's DIMAP as the real format nests it: two located values (the centre second),
#: wavelengths in nanometres, a projected CRS.
SPOT_DIMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<Dimap_Document name="DIM_SPOT7_MS_201808270411022_ORT_1234.XML">
  <Metadata_Identification><METADATA_FORMAT version="2.0">DIMAP</METADATA_FORMAT></Metadata_Identification>
  <Dataset_Identification><DATASET_NAME>DS_SPOT7_201808270411022_FR1_FR1_FR1_FR1_E101N57_01871</DATASET_NAME>
  </Dataset_Identification>
  <Dataset_Content>
    <Dataset_Extent>
      <Vertex><LON>100.33</LON><LAT>57.28</LAT><COL>1</COL><ROW>1</ROW></Vertex>
      <Vertex><LON>101.33</LON><LAT>57.28</LAT><COL>9000</COL><ROW>1</ROW></Vertex>
      <Vertex><LON>101.33</LON><LAT>56.75</LAT><COL>9000</COL><ROW>9000</ROW></Vertex>
      <Vertex><LON>100.33</LON><LAT>56.75</LAT><COL>1</COL><ROW>9000</ROW></Vertex>
    </Dataset_Extent>
    <CLOUD_COVERAGE unit="percent">3.5</CLOUD_COVERAGE>
  </Dataset_Content>
  <Coordinate_Reference_System><Projected_CRS>
    <PROJECTED_CRS_CODE>urn:ogc:def:crs:EPSG::32647</PROJECTED_CRS_CODE>
  </Projected_CRS></Coordinate_Reference_System>
  <Radiometric_Data><Radiometric_Calibration><Instrument_Calibration><Band_Measurement_List>
    <Band_Spectral_Range><BAND_ID>B0</BAND_ID><MEASURE_UNIT>nanometer</MEASURE_UNIT><MIN>450</MIN><MAX>520</MAX>
      <FWHM><MIN>455</MIN><MAX>525</MAX></FWHM></Band_Spectral_Range>
    <Band_Spectral_Range><BAND_ID>B1</BAND_ID><MEASURE_UNIT>nanometer</MEASURE_UNIT><MIN>530</MIN><MAX>590</MAX>
    </Band_Spectral_Range>
  </Band_Measurement_List></Instrument_Calibration></Radiometric_Calibration></Radiometric_Data>
  <Geometric_Data><Use_Area>
    <Located_Geometric_Values><TIME>2018-08-27T04:11:00.1Z</TIME><LOCATION_TYPE>Top Left</LOCATION_TYPE>
      <Acquisition_Angles><INCIDENCE_ANGLE>4.0</INCIDENCE_ANGLE></Acquisition_Angles></Located_Geometric_Values>
    <Located_Geometric_Values><TIME>2018-08-27T04:11:02.249123456Z</TIME><LOCATION_TYPE>Center</LOCATION_TYPE>
      <Acquisition_Angles><AZIMUTH_ANGLE>336.5</AZIMUTH_ANGLE><VIEWING_ANGLE>4.04</VIEWING_ANGLE>
        <INCIDENCE_ANGLE>4.48</INCIDENCE_ANGLE></Acquisition_Angles>
      <Solar_Incidences><SUN_AZIMUTH>157.37</SUN_AZIMUTH><SUN_ELEVATION>42.03</SUN_ELEVATION></Solar_Incidences>
    </Located_Geometric_Values>
  </Use_Area></Geometric_Data>
  <Dataset_Sources><Source_Identification><Strip_Source>
    <MISSION>SPOT</MISSION><MISSION_INDEX>7</MISSION_INDEX><INSTRUMENT>NAOMI</INSTRUMENT>
    <IMAGING_DATE>2018-08-27</IMAGING_DATE><IMAGING_TIME>04:11:02.2</IMAGING_TIME>
  </Strip_Source></Source_Identification></Dataset_Sources>
</Dimap_Document>
"""


#: The sandbox's tutorial price image: its catalogue properties and footprint ring.
_PRICE_ITEM = price_item_feature()
_PRICE_ITEM_PROPERTIES = _PRICE_ITEM["properties"]
_PRICE_ITEM_RING = _PRICE_ITEM["geometry"]["coordinates"][0]


def price_feature(**overrides: object) -> dict[str, object]:
    properties = {
        **_PRICE_ITEM_PROPERTIES,
        "processingLevel": "ORTHO",
        "productType": "bundle",
        "radiometricProcessing": "REFLECTANCE",
        "crsCode": "urn:ogc:def:crs:EPSG::32631",
        "orderId": "0b0f7c1e-0000-4000-8000-000000000001",
        **overrides,
    }
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [_PRICE_ITEM_RING]},
        "properties": properties,
    }


def test_sandbox_dimap_round_trips_every_field() -> None:
    feature = price_feature()
    meta = parse_dimap(dimap_document("item-1", 12345, feature))
    props = feature["properties"]
    assert isinstance(props, dict)
    assert meta.dataset_name == props["parentIdentifier"]
    assert meta.footprint is not None
    ring = meta.footprint["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == len(_PRICE_ITEM_RING)
    for got, want in zip(ring, _PRICE_ITEM_RING, strict=True):
        assert got == pytest.approx(want, abs=1e-8)
    assert meta.acquired == datetime(2019, 7, 14, 10, 52, 31, 512000, tzinfo=timezone.utc)
    assert meta.platform == "PHR1B" and meta.instrument == "PHR"
    assert meta.cloud_cover == pytest.approx(props["cloudCover"])
    assert meta.snow_cover == 0
    assert meta.incidence_angle == pytest.approx(props["incidenceAngle"])
    assert 0 < meta.viewing_angle < meta.incidence_angle  # type: ignore[operator]  # off-nadir < incidence
    assert meta.azimuth_angle == pytest.approx(props["azimuthAngle"])
    assert meta.sun_azimuth == pytest.approx(props["illuminationAzimuthAngle"])
    assert meta.sun_elevation == pytest.approx(props["illuminationElevationAngle"])
    assert meta.processing_level == "ORTHO" and meta.product_type == "bundle"
    assert meta.spectral_processing == "MS" and meta.radiometric_processing == "REFLECTANCE"
    assert meta.gsd == 2.0  # a bundle's multispectral image: 4 x the 0.5 m panchromatic resolution
    assert meta.crs_code == "urn:ogc:def:crs:EPSG::32631"
    assert meta.data_files == ("IMG_item-1_R1C1.JP2",)
    assert [b.id for b in meta.bands] == ["B0", "B1", "B2", "B3"]
    assert meta.bands[2].center_wavelength == pytest.approx(0.66)
    assert meta.bands[2].full_width_half_max == pytest.approx(0.07)
    assert meta.rows and meta.columns and meta.bits == 12
    assert meta.commercial_reference == props["commercialReference"]


def test_sandbox_dimap_is_deterministic_and_follows_options() -> None:
    feature = price_feature()
    assert dimap_document("i", 10, feature) == dimap_document("i", 10, feature)
    pansharpened = parse_dimap(
        dimap_document("i", 10, price_feature(productType="pansharpened", radiometricProcessing="DISPLAY"))
    )
    assert pansharpened.spectral_processing == "PMS" and pansharpened.gsd == 0.5 and pansharpened.bits == 8
    spot = parse_dimap(dimap_document("i", 10, price_feature(constellation="SPOT", platform="SPOT7")))
    assert spot.mission == "SPOT" and spot.mission_index == "7" and spot.instrument == "NAOMI"
    multi = price_feature()
    small = [[1.0, 43.0], [1.1, 43.0], [1.1, 43.1], [1.0, 43.0]]
    multi["geometry"] = {"type": "MultiPolygon", "coordinates": [[small], [_PRICE_ITEM_RING]]}
    parts = parse_dimap(dimap_document("i", 10, multi)).footprint
    assert parts is not None and len(parts["coordinates"][0]) == len(_PRICE_ITEM_RING)  # the larger part


def test_real_layout_centre_values_and_nanometres() -> None:
    meta = parse_dimap(SPOT_DIMAP)
    assert meta.acquired == datetime(2018, 8, 27, 4, 11, 2, 249123, tzinfo=timezone.utc)  # 9 digits cut to 6
    assert meta.incidence_angle == 4.48 and meta.viewing_angle == 4.04  # the Center values, not Top Left
    assert meta.sun_azimuth == 157.37 and meta.sun_elevation == 42.03
    assert meta.bands[0].min == pytest.approx(0.45) and meta.bands[0].center_wavelength == pytest.approx(0.49)
    assert meta.bands[1].full_width_half_max is None and meta.bands[1].center_wavelength == pytest.approx(0.56)
    assert meta.crs_code == "urn:ogc:def:crs:EPSG::32647" and meta.platform == "SPOT7"
    assert meta.footprint is not None and len(meta.footprint["coordinates"][0]) == 5
    # Silent elements stay None.
    assert meta.snow_cover is None and meta.gsd is None and meta.processing_level is None


def test_acquisition_time_falls_back_to_the_strip_source() -> None:
    xml = SPOT_DIMAP.replace(b"<TIME>2018-08-27T04:11:02.249123456Z</TIME>", b"").replace(
        b"<TIME>2018-08-27T04:11:00.1Z</TIME>", b""
    )
    assert parse_dimap(xml).acquired == datetime(2018, 8, 27, 4, 11, 2, 200000, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not xml at all", "not XML"),
        (b"<Other_Document/>", "not <Dimap_Document>"),
        (b"<Dimap_Document>" + b" " * MAX_DIMAP_BYTES + b"</Dimap_Document>", "too large"),
    ],
)
def test_broken_documents_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(DimapError, match=message):
        parse_dimap(data)


def test_read_from_a_zip() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("PROD/IMG_PHR1A_MS_001/IMG_PHR1A_MS_R1C1.JP2", b"\0" * 100)
        archive.writestr("PROD/IMG_PHR1A_MS_001/DIM_PHR1A_MS_001.XML", SPOT_DIMAP)
    buffer.seek(0)
    found = read_dimap_from_zip(buffer)
    assert found is not None and found[0] == "PROD/IMG_PHR1A_MS_001/DIM_PHR1A_MS_001.XML"
    assert found[1].dataset_name and found[1].dataset_name.startswith("DS_SPOT7")

    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("readme.txt", b"no metadata")
    empty.seek(0)
    assert read_dimap_from_zip(empty) is None


def test_dimap_names() -> None:
    assert is_dimap_name("a/b/DIM_PHR1A_P_001.XML") and is_dimap_name("dim_x.xml")
    assert not is_dimap_name("a/RPC_PHR1A.XML") and not is_dimap_name("DIM_x.JP2")
