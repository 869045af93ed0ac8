"""The dashboards: ``/dashboard/accuracy`` (the served model's evaluation beside the comparison runs) and
``/dashboard/embedding`` (an interactive 2-D map of the gallery), with their JSON data endpoints."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from app.dependencies import get_accuracy_dashboard, get_embedding_maps
from app.services.dashboards import AccuracyDashboard, EmbeddingMaps
from app.web import templates

router = APIRouter(prefix="/dashboard", tags=["dashboards"])


@router.get("/accuracy", response_class=HTMLResponse, include_in_schema=False)
async def accuracy_page(request: Request, dashboard: Annotated[AccuracyDashboard, Depends(get_accuracy_dashboard)]) -> HTMLResponse:
    data = await run_in_threadpool(dashboard.data)
    return templates.TemplateResponse(request, "dashboard_accuracy.html", {"data": data})


@router.get("/accuracy/data", summary="The accuracy dashboard's data: metrics, ROC, curves and confusions per run")
async def accuracy_data(dashboard: Annotated[AccuracyDashboard, Depends(get_accuracy_dashboard)]) -> dict[str, Any]:
    return await run_in_threadpool(dashboard.data)


@router.get("/embedding", response_class=HTMLResponse, include_in_schema=False)
def embedding_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "dashboard_embedding.html", {})


@router.get("/embedding/data", summary="A 2-D map of every gallery image: [[x, y, image id, person index], ...]")
async def embedding_data(
    maps: Annotated[EmbeddingMaps, Depends(get_embedding_maps)],
    method: Annotated[Literal["pca", "tsne"], Query(description="t-SNE is served once computed; PCA until then")] = "pca",
) -> dict[str, Any]:
    return await run_in_threadpool(maps.data, method)


@router.get("/embedding/status", summary="Whether the t-SNE map of the served index is ready")
def embedding_status(maps: Annotated[EmbeddingMaps, Depends(get_embedding_maps)]) -> dict[str, Any]:
    return maps.status()
