"""Every dependency the routes take, in one place: settings and services (set up by ``app.main``)."""

from __future__ import annotations

from fastapi import Request

from app.services.matching import MatchService
from app.settings import AppSettings


def get_settings(request: Request) -> AppSettings:
    return request.app.state.settings


def get_match_service(request: Request) -> MatchService:
    return request.app.state.match_service
