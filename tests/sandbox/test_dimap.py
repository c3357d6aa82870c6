"""``airflow_provider_oneatlas.sandbox.dimap``: the DIMAP V2 document of a sandbox delivery, element by
element where downstream tools read it (the round trip through the reader is in tests/unit/stac)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from airflow_provider_oneatlas.sandbox.catalog import tutorial_features
from airflow_provider_oneatlas.sandbox.dimap import dimap_document


def test_the_real_element_paths_are_there() -> None:
    feature = tutorial_features()[2]  # a SPOT 7 image
    root = ET.fromstring(dimap_document("abc", 1000, feature))
    assert root.tag == "Dimap_Document" and root.get("name") == "DIM_abc.XML"
    assert root.findtext("Metadata_Identification/METADATA_FORMAT") == "DIMAP"
    assert root.find("Metadata_Identification/METADATA_FORMAT").get("version") == "2.0"  # type: ignore[union-attr]
    vertices = root.findall("Dataset_Content/Dataset_Extent/Vertex")
    assert len(vertices) == 4  # the footprint's ring without its closing vertex
    assert float(vertices[0].findtext("LON") or 0) == feature["geometry"]["coordinates"][0][0][0]
    located = root.find("Geometric_Data/Use_Area/Located_Geometric_Values")
    assert located is not None and located.findtext("LOCATION_TYPE") == "Center"
    assert located.findtext("TIME") == feature["properties"]["acquisitionDate"]
    for path in (
        "Acquisition_Angles/INCIDENCE_ANGLE",
        "Acquisition_Angles/VIEWING_ANGLE",
        "Acquisition_Angles/AZIMUTH_ANGLE",
        "Solar_Incidences/SUN_AZIMUTH",
        "Solar_Incidences/SUN_ELEVATION",
    ):
        assert located.find(path) is not None and located.find(path).get("unit") == "deg", path  # type: ignore[union-attr]
    assert root.findtext("Dataset_Sources/Source_Identification/Strip_Source/MISSION") == "SPOT"
    assert root.findtext("Dataset_Sources/Source_Identification/Strip_Source/MISSION_INDEX") == "7"
    assert root.findtext("Dataset_Sources/Source_Identification/Strip_Source/IMAGING_DATE") == "2018-08-24"
    bands = root.findall(
        "Radiometric_Data/Radiometric_Calibration/Instrument_Calibration/Band_Measurement_List/Band_Spectral_Range"
    )
    assert [b.findtext("BAND_ID") for b in bands] == ["B0", "B1", "B2", "B3"]
    assert all(b.find("FWHM/MIN") is not None and b.find("FWHM/MAX") is not None for b in bands)
    assert root.find("Raster_Data/Data_Access/Data_Files/Data_File/DATA_FILE_PATH").get("href") == "IMG_abc_R1C1.JP2"  # type: ignore[union-attr]
    assert root.findtext("Dataset_Content/CLOUD_COVERAGE") == "2.54"


def test_a_feature_without_properties_still_gives_a_document() -> None:
    root = ET.fromstring(dimap_document("abc", 1000, None))
    assert root.findtext("Dataset_Identification/DATASET_NAME") == "abc"
    assert root.findall("Dataset_Content/Dataset_Extent/Vertex") == []
