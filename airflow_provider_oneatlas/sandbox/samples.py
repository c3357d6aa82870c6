"""The OneAtlas tutorial's images, verbatim: the three features of its search answer, and the image its
price sample orders (``ce4a073e-...``, a Pleiades SENSOR image over Toulouse).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

PUBLIC_WORKSPACE_ID = "0e33eb50-3404-48ad-b835-b0b4b72a5625"
PUBLIC_WORKSPACE_NAME = "public"

#: The image of the tutorial's price sample: a Pleiades SENSOR image covering the Toulouse AOI.
TUTORIAL_PRICE_ITEM_ID = "ce4a073e-915a-4e15-b943-4470e02e0511"
TUTORIAL_ITEM_IDS = (
    "e459d653-468f-471b-8d6e-90b13b14c655",
    "df89db9b-e35a-46ee-aad5-f3e1f18bf0ae",
    "1f5a3bda-8e35-4704-82ca-27dbfae58fc4",
)

# Hosts the real API links to; answers rewrite them to the sandbox's own base URL.
VIEW_HOST = "https://view.oneatlas.geoapi-airbusds.com"
WORKSPACES_HOST = "https://workspaces.oneatlas.private.geoapi-airbusds.com"


TUTORIAL_RIGHTS: dict[str, Any] = {
    "browse": {
        "privileges": [
            {
                "createdAt": "2018-08-29T15:14:29.581647813Z",
                "filter": {"workspaceId": PUBLIC_WORKSPACE_ID},
                "id": "8d21eca0-ad73-4d9d-8f04-29c8cd83e2c4",
                "rights": {"browse": {}},
                "subscriptionId": "f375c5ce-daba-412a-ace3-9092539cd1a8",
                "userId": "5aea35c3-ca12-4c55-b455-2df467b87de1",
            }
        ]
    },
    "wms": {
        "privileges": [
            {
                "createdAt": "2018-08-29T15:14:29.390365151Z",
                "filter": {"workspaceId": PUBLIC_WORKSPACE_ID},
                "id": "a4746d2a-7ef2-48c1-9c98-ccbe939a242b",
                "rights": {"wms": {}, "wmts": {}},
                "subscriptionId": "6f06e275-5327-4752-86b1-93867c27e56f",
                "userId": "5aea35c3-ca12-4c55-b455-2df467b87de1",
            }
        ]
    },
    "wmts": {
        "privileges": [
            {
                "createdAt": "2018-08-29T15:14:29.390365151Z",
                "filter": {"workspaceId": PUBLIC_WORKSPACE_ID},
                "id": "a4746d2a-7ef2-48c1-9c98-ccbe939a242b",
                "rights": {"wms": {}, "wmts": {}},
                "subscriptionId": "6f06e275-5327-4752-86b1-93867c27e56f",
                "userId": "5aea35c3-ca12-4c55-b455-2df467b87de1",
            }
        ]
    },
}

_COMMON_PUBLIC_PROPERTIES: dict[str, Any] = {
    "archivingCenter": "FR1",
    "format": "image/jp2",
    "organisationName": "AIRBUS DS",
    "processingCenter": "AOC",
    "processorName": "IMFv6",
    "productCategory": "image",
    "productType": "bundle",
    "productionStatus": "IN_CLOUD",
    "qualified": False,
    "sensorType": "OPTICAL",
    "spectralRange": "VISIBLE",
    "workspaceId": PUBLIC_WORKSPACE_ID,
    "workspaceName": PUBLIC_WORKSPACE_NAME,
    "workspaceTitle": "Public",
}

# (geometry ring, properties) of the tutorial's three features, exactly as its search answer shows them.
_TUTORIAL_FEATURES: tuple[tuple[list[list[float]], dict[str, Any]], ...] = (
    (
        [
            [-79.6004740473, 62.5991162052],
            [-78.3906212349, 62.5893798561],
            [-78.3941369259, 62.0569309149],
            [-79.5956204515, 62.0695559704],
            [-79.6004740473, 62.5991162052],
        ],
        {
            "acquisitionDate": "2018-08-27T16:29:21.124Z",
            "acquisitionStation": "SV1",
            "azimuthAngle": 307.695448902,
            "cloudCover": 61.4,
            "commercialReference": "SO18022823",
            "constellation": "SPOT",
            "correlationId": "f334ee62-74db-4cbc-85ef-47f9b930741e",
            "expirationDate": "2019-08-30T07:06:16.522195753Z",
            "id": "e459d653-468f-471b-8d6e-90b13b14c655",
            "illuminationAzimuthAngle": 164.8027404,
            "illuminationElevationAngle": 37.7839600556,
            "incidenceAngle": 11.2809233557,
            "incidenceAngleAcrossTrack": -9.27954139844,
            "incidenceAngleAlongTrack": -6.51409289749,
            "parentIdentifier": "DS_SPOT6_201808271629211_FR1_FR1_SV1_SV1_W079N62_01871",
            "platform": "SPOT6",
            "processingDate": "2018-08-29T19:58:17Z",
            "processingLevel": "SENSOR",
            "publicationDate": "2018-08-30T07:06:16.522195753Z",
            "resolution": 1.57121,
            "snowCover": 0,
            "sourceIdentifier": "SEN_SPOT6_20180827_162921300_000",
            "title": "SEN_SPOT6_20180827_162921300_000",
        },
    ),
    (
        [
            [100.331087773, 57.286615318],
            [101.335582984, 57.2848905567],
            [101.330053452, 56.7493429839],
            [100.337803774, 56.7519940149],
            [100.331087773, 57.286615318],
        ],
        {
            "acquisitionDate": "2018-08-27T04:11:02.249Z",
            "acquisitionStation": "FR1",
            "azimuthAngle": 336.541526209,
            "cloudCover": 0,
            "commercialReference": "SO18022823",
            "constellation": "SPOT",
            "correlationId": "94dd9b58-931d-4905-8566-3ccfe8bb8512",
            "expirationDate": "2019-08-30T07:04:29.282437526Z",
            "id": "df89db9b-e35a-46ee-aad5-f3e1f18bf0ae",
            "illuminationAzimuthAngle": 157.365191931,
            "illuminationElevationAngle": 42.0314192766,
            "incidenceAngle": 4.4795584183,
            "incidenceAngleAcrossTrack": -2.16042728059,
            "incidenceAngleAlongTrack": -3.06803280713,
            "parentIdentifier": "DS_SPOT7_201808270411022_FR1_FR1_FR1_FR1_E101N57_01871",
            "platform": "SPOT7",
            "processingDate": "2018-08-29T20:00:58Z",
            "processingLevel": "SENSOR",
            "publicationDate": "2018-08-30T07:04:29.282437526Z",
            "resolution": 1.53265,
            "snowCover": 0,
            "sourceIdentifier": "SEN_SPOT7_20180827_041102400_000",
            "title": "SEN_SPOT7_20180827_041102400_000",
        },
    ),
    (
        [
            [-97.5655486139, 43.7419084893],
            [-96.7962782903, 43.7527037444],
            [-96.8008304963, 43.2195591894],
            [-97.560216004, 43.2103713303],
            [-97.5655486139, 43.7419084893],
        ],
        {
            "acquisitionDate": "2018-08-24T16:58:22.749Z",
            "acquisitionStation": "SV1",
            "azimuthAngle": 33.6952998936,
            "cloudCover": 2.54,
            "commercialReference": "SO18022823",
            "constellation": "SPOT",
            "correlationId": "8cdf8476-ba97-4b1c-a5e2-bc51e7f96b41",
            "expirationDate": "2019-08-30T07:02:42.28029458Z",
            "id": "1f5a3bda-8e35-4704-82ca-27dbfae58fc4",
            "illuminationAzimuthAngle": 140.454551832,
            "illuminationElevationAngle": 52.5634223274,
            "incidenceAngle": 11.8848831728,
            "incidenceAngleAcrossTrack": 7.02760267831,
            "incidenceAngleAlongTrack": -9.50177545448,
            "parentIdentifier": "DS_SPOT7_201808241658227_FR1_FR1_SV1_SV1_W097N43_01871",
            "platform": "SPOT7",
            "processingDate": "2018-08-29T19:50:23Z",
            "processingLevel": "SENSOR",
            "publicationDate": "2018-08-30T07:02:42.28029458Z",
            "resolution": 1.56425,
            "snowCover": 0,
            "sourceIdentifier": "SEN_SPOT7_20180824_165822900_000",
            "title": "SEN_SPOT7_20180824_165822900_000",
        },
    ),
)

# The price sample's image: Pleiades 1B over Toulouse, its footprint a margin around the sample AOI
# (lon 1.24-1.57, lat 43.47-43.71).
_PRICE_ITEM_RING = [
    [1.1630471928, 43.7851904217],
    [1.6485290631, 43.7769618264],
    [1.6442795012, 43.3958815306],
    [1.1617530744, 43.4036452873],
    [1.1630471928, 43.7851904217],
]
_PRICE_ITEM_PROPERTIES: dict[str, Any] = {
    "acquisitionDate": "2019-07-14T10:52:31.512Z",
    "acquisitionStation": "FR1",
    "azimuthAngle": 179.871120573,
    "cloudCover": 1.25,
    "commercialReference": "SO19031277",
    "constellation": "PHR",
    "correlationId": "5b0e6c8a-2f4d-4c1e-9a37-8d1f2e6b7c40",
    "expirationDate": "2020-07-16T05:41:08.310472215Z",
    "id": TUTORIAL_PRICE_ITEM_ID,
    "illuminationAzimuthAngle": 148.22019451,
    "illuminationElevationAngle": 65.3081775312,
    "incidenceAngle": 8.3410213374,
    "incidenceAngleAcrossTrack": 6.98205134882,
    "incidenceAngleAlongTrack": -4.56352095021,
    "parentIdentifier": "DS_PHR1B_201907141052315_FR1_PX_E001N43_0615_01640",
    "platform": "PHR1B",
    "processingDate": "2019-07-15T22:13:45Z",
    "processingLevel": "SENSOR",
    "publicationDate": "2019-07-16T05:41:08.310472215Z",
    "resolution": 0.5,
    "snowCover": 0,
    "sourceIdentifier": "SEN_PHR1B_20190714_105231500_000",
    "title": "SEN_PHR1B_20190714_105231500_000",
}


def real_links(item_id: str, workspace_id: str) -> dict[str, dict[str, str]]:
    """``_links`` of an image as the real API writes them (hosts are rewritten when answering)."""
    view = f"{VIEW_HOST}/api/v1/items/{item_id}"
    return {
        "delete": {
            "href": f"{WORKSPACES_HOST}/api/v1/workspaces/{workspace_id}/types/satellite_imagery/items/{item_id}",
            "name": "Delete",
            "type": "HTTP",
        },
        "metadata": {"href": f"{view}/metadata", "name": "Metadata", "type": "HTTP"},
        "quicklook": {"href": f"{view}/quicklook", "name": "QuickLook", "type": "HTTP"},
        "thumbnail": {"href": f"{view}/thumbnail", "name": "Thumbnail", "type": "HTTP"},
        "wms": {"href": f"{view}/wms", "name": "WMS", "type": "WMS"},
        "wmts": {"href": f"{view}/wmts", "name": "WMTS", "type": "WMTS"},
    }


def _public_feature(ring: list[list[float]], own: Mapping[str, Any], rights: dict[str, Any]) -> dict[str, Any]:
    props = dict(sorted({**_COMMON_PUBLIC_PROPERTIES, **own}.items()))
    return {
        "_links": real_links(str(props["id"]), PUBLIC_WORKSPACE_ID),
        "geometry": {"coordinates": [ring], "type": "Polygon"},
        "properties": props,
        "rights": rights,
        "type": "Feature",
    }


def tutorial_features() -> list[dict[str, Any]]:
    """The tutorial's three search results, as fresh copies."""
    return [
        _public_feature(copy.deepcopy(ring), props, copy.deepcopy(TUTORIAL_RIGHTS))
        for ring, props in _TUTORIAL_FEATURES
    ]


def price_item_feature() -> dict[str, Any]:
    """The tutorial price sample's image, as a fresh copy."""
    return _public_feature(copy.deepcopy(_PRICE_ITEM_RING), _PRICE_ITEM_PROPERTIES, copy.deepcopy(TUTORIAL_RIGHTS))
