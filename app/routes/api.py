"""The REST API: ``POST /match``, ``GET /gallery/{id}/image``, ``GET /gallery/{id}/face``, ``GET /health``."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, HTTPException, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from app.dependencies import get_match_service, get_app_settings
from app.services.matching import MatchService, MatchTimeoutError
from app.services.served_index import GalleryImageNotFoundError, gallery_face_jpeg, gallery_image_file
from app.settings import AppSettings
from model.faces.photo_decode import human_size

router = APIRouter(tags=["api"])

MATCH_EXAMPLE = {
    "faces": [
        {
            "box": [432.7, 168.2, 710.6, 567.4],
            "probability": 1.0,
            "matches": [
                {"person": "Ariel_Sharon", "image_id": 14101, "image_url": "/gallery/14101/image",
                 "face_url": "/gallery/14101/face", "similarity": 95.2, "distance": 0.4215, "same_person": False},
            ],
        }
    ],
    "query_face": 0,
    "model": "d36ddd48550932f94b213c0389571e03f7f8043d286f3ae91a64680c094c3258",
    "index": "20261130T003302144201-e49991",
    "timings_ms": {"decode": 37.93, "detect": 111.61, "crop": 5.01, "embed": 1.47, "search": 0.51, "total": 156.53},
}
"""The real answer of the default LFW index for ``biden.jpg`` with k=1 (README): a look-alike, not the same person."""


async def _read_limited(file: UploadFile, limit: int) -> bytes:
    """The upload's bytes, in memory only; more than ``limit`` is a 413 before all of it is read."""
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"the file is larger than {human_size(limit)}: upload a smaller version of it")
    return data


@router.post(
    "/match",
    summary="Find the look-alikes of every face in a photo",
    responses={
        200: {"content": {"application/json": {"example": MATCH_EXAMPLE}}},
        400: {"description": "the file is not a readable image"},
        413: {"description": "the file or its pixel count is over the limit"},
        415: {"description": "not a JPEG, PNG or WebP image"},
        422: {"description": "no face found, or a bad parameter"},
        429: {"description": "too many matches from this address for now (see Retry-After)"},
        503: {"description": "the index is not ready, or the server is too busy to answer in time"},
    },
)
async def match(
    file: Annotated[UploadFile, File(description="the photo: JPEG, PNG or WebP")],
    settings: Annotated[AppSettings, Depends(get_app_settings)],
    service: Annotated[MatchService, Depends(get_match_service)],
    k: Annotated[int | None, Query(ge=1, description="matches per face (default and maximum: see /health)")] = None,
    face: Annotated[int | None, Query(ge=0, description="which detected face is the query, 0 = the largest")] = None,
    detect: Annotated[bool, Query(description="false when the image already is an LFW-style face crop")] = True,
) -> dict[str, Any]:
    k = settings.default_k if k is None else k
    if k > settings.max_k:
        raise HTTPException(422, f"k is at most {settings.max_k}, got {k}")
    data = await _read_limited(file, settings.max_upload_bytes)
    try:
        # The deadline stops the match at its next stage: a request nobody waits for any more frees its thread.
        deadline = time.monotonic() + settings.match_timeout_seconds
        result = await run_in_threadpool(service.match, data, k, face, detect, deadline)
    except MatchTimeoutError as error:
        raise HTTPException(
            503, f"the match took longer than {settings.match_timeout_seconds:g} s ({error}): the server is busy, try "
            "again in a moment (a smaller photo is also faster)", headers={"Retry-After": "5"},
        ) from error
    except ValueError as error:
        from app.errors import status_of

        if status_of(error) is None:  # a face number out of range, and the like
            raise HTTPException(422, str(error)) from error
        raise
    for detected in result["faces"]:
        for m in detected["matches"]:
            m["image_url"] = f"/gallery/{m['image_id']}/image"
            m["face_url"] = f"/gallery/{m['image_id']}/face"
    return result


@router.get("/gallery/{image_id}/image", summary="A gallery image, by the image_id a match gives",
            response_class=FileResponse, responses={404: {"description": "no gallery image has this id"}})
def gallery_image(image_id: str, service: Annotated[MatchService, Depends(get_match_service)]) -> FileResponse:
    try:
        path = gallery_image_file(service, image_id)
    except GalleryImageNotFoundError as error:
        raise HTTPException(404, str(error)) from error
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


@router.get(
    "/gallery/{image_id}/face",
    summary="The square face of a gallery image, by the image_id a match gives (what a look-alike card shows)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "a 160x160 JPEG cut from the original image"},
               404: {"description": "no gallery image has this id"}},
)
def gallery_face(image_id: str, service: Annotated[MatchService, Depends(get_match_service)]) -> Response:
    try:
        data = gallery_face_jpeg(service, image_id)
    except GalleryImageNotFoundError as error:
        raise HTTPException(404, str(error)) from error
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/health", summary="Whether the model and index are loaded, their sizes and versions")
def health(
    settings: Annotated[AppSettings, Depends(get_app_settings)], service: Annotated[MatchService, Depends(get_match_service)]
) -> dict[str, Any]:
    return service.health() | {"k": {"default": settings.default_k, "max": settings.max_k}}
