"""The admin page and API: index status, rebuilds with progress, adding and removing gallery people.

Every ``/admin/*`` JSON endpoint needs ``Authorization: Bearer <DOPPELGANGER_ADMIN_TOKEN>``: 401 with a wrong or
missing token, 403 when no token is configured (admin switched off). The page itself (``GET /admin``) carries no
data: it asks for the token, keeps it in ``sessionStorage`` and calls the endpoints with it.

Adding people (``POST /admin/gallery``) stores their photos and starts an incremental rebuild at once (202 with
the job id; queued behind a running rebuild if there is one); removing one (``DELETE /admin/gallery/{person}``)
does the same.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse

from app.dependencies import get_gallery_admin, get_match_service, get_rebuild_service, get_app_settings
from app.services.gallery_admin import GalleryAdmin, GalleryUploadError
from app.services.matching import MatchService
from app.services.rebuilds import RebuildRunningError, RebuildService
from app.services.served_index import index_status, live_people
from app.settings import AppSettings
from app.web import templates
from model.faces.photo_decode import human_size

OFF = "admin is switched off: set DOPPELGANGER_ADMIN_TOKEN to a secret token and restart the server"


def require_admin(
    settings: Annotated[AppSettings, Depends(get_app_settings)],
    authorization: Annotated[str | None, Header(description="Bearer <DOPPELGANGER_ADMIN_TOKEN>")] = None,
) -> None:
    token = settings.admin_token.get_secret_value() if settings.admin_token is not None else ""
    if not token:
        raise HTTPException(403, OFF)
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), token.encode()):
        raise HTTPException(
            401, "wrong or missing admin token: send the header 'Authorization: Bearer <DOPPELGANGER_ADMIN_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


page_router = APIRouter(tags=["admin"], include_in_schema=False)
router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])


@page_router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, settings: Annotated[AppSettings, Depends(get_app_settings)]) -> HTMLResponse:
    enabled = settings.admin_token is not None and bool(settings.admin_token.get_secret_value())
    return templates.TemplateResponse(request, "admin.html", {"enabled": enabled, "off_message": OFF})


@router.get("/status", summary="The served index, the gallery changes, and the rebuild in progress")
def status(
    settings: Annotated[AppSettings, Depends(get_app_settings)],
    service: Annotated[MatchService, Depends(get_match_service)],
    rebuilds: Annotated[RebuildService, Depends(get_rebuild_service)],
) -> dict[str, Any]:
    return index_status(settings, service, rebuilds.active())


@router.post("/rebuild", status_code=202, summary="Start a rebuild of the index (incremental unless full=true)")
def rebuild(
    rebuilds: Annotated[RebuildService, Depends(get_rebuild_service)],
    full: Annotated[bool, Query(description="embed every image again instead of only new and changed ones")] = False,
) -> dict[str, Any]:
    try:
        job = rebuilds.start(full=full, reason="full rebuild" if full else "incremental rebuild")
    except RebuildRunningError as error:
        raise HTTPException(409, str(error)) from error
    return {"job": job.id, "url": f"/admin/jobs/{job.id}"}


@router.get("/jobs", summary="The latest rebuilds, newest first, with their outcome")
def jobs(rebuilds: Annotated[RebuildService, Depends(get_rebuild_service)]) -> dict[str, Any]:
    return {"jobs": rebuilds.history()}


@router.get("/jobs/{job_id}", summary="One rebuild: state (queued, running, succeeded, failed), done/total, message")
def job(job_id: str, rebuilds: Annotated[RebuildService, Depends(get_rebuild_service)]) -> dict[str, Any]:
    found = rebuilds.job(job_id)
    if found is None:
        raise HTTPException(404, f"no rebuild has id {job_id!r}: see GET /admin/jobs")
    return found


async def _read(file: UploadFile, limit: int, what: str) -> bytes:
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{what} is larger than {human_size(limit)}: upload a smaller one")
    return data


@router.post(
    "/gallery", status_code=202,
    summary="Add people: a zip of Person/*.jpg folders, or a name and a few photos; starts an incremental rebuild",
    responses={400: {"description": "bad name, unsafe or unreadable archive, no readable photo"},
               413: {"description": "too many files or bytes"}},
)
async def add_to_gallery(
    settings: Annotated[AppSettings, Depends(get_app_settings)],
    gallery: Annotated[GalleryAdmin, Depends(get_gallery_admin)],
    rebuilds: Annotated[RebuildService, Depends(get_rebuild_service)],
    zip: Annotated[UploadFile | None, File(description="a .zip of Person/*.jpg folders")] = None,  # noqa: A002
    name: Annotated[str | None, Form(description="the person's name, with `files`")] = None,
    files: Annotated[list[UploadFile] | None, File(description="photos of the person named `name`")] = None,
) -> JSONResponse:
    try:
        if zip is not None and zip.filename:
            data = await _read(zip, gallery.max_zip_bytes, "the archive")
            report = await run_in_threadpool(gallery.add_zip, data)
        elif files:
            if not name:
                raise GalleryUploadError("give the person's name with their photos")
            if len(files) > gallery.max_zip_files:
                raise GalleryUploadError(f"more than {gallery.max_zip_files} photos: upload a zip instead", 413)
            photos = [(f.filename or "photo", await _read(f, settings.max_upload_bytes, f.filename or "a photo")) for f in files]
            report = await run_in_threadpool(gallery.add_photos, name, photos)
        else:
            raise GalleryUploadError("send a `zip` file, or a `name` and one or more `files`")
    except GalleryUploadError as error:
        raise HTTPException(error.status, str(error)) from error
    people = ", ".join(report.added)
    job = rebuilds.request(f"added {people}")
    return JSONResponse(report.to_dict() | {"job": job.id, "url": f"/admin/jobs/{job.id}"}, status_code=202)


@router.delete("/gallery/{person}", status_code=202, summary="Remove a person (an added one's photos are deleted; "
               "an LFW person is excluded) and start an incremental rebuild")
def remove_from_gallery(
    person: str,
    settings: Annotated[AppSettings, Depends(get_app_settings)],
    service: Annotated[MatchService, Depends(get_match_service)],
    gallery: Annotated[GalleryAdmin, Depends(get_gallery_admin)],
    rebuilds: Annotated[RebuildService, Depends(get_rebuild_service)],
) -> dict[str, Any]:
    try:
        how = gallery.remove(person, [p for p, _ in live_people(service, settings.index_dir)])
    except KeyError as error:
        raise HTTPException(404, f"no person {person!r} in the gallery (names are LFW-style, e.g. George_W_Bush)") from error
    job = rebuilds.request(f"removed {person}")
    return {"person": person, "removed": how, "job": job.id, "url": f"/admin/jobs/{job.id}"}


@router.get("/people", summary="Every person of the served index with their image count (for the remove form)")
def people(
    settings: Annotated[AppSettings, Depends(get_app_settings)], service: Annotated[MatchService, Depends(get_match_service)]
) -> dict[str, Any]:
    return {"people": [[name, count] for name, count in live_people(service, settings.index_dir)]}
