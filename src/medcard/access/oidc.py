"""Signing families in through an external OpenID Connect provider (placeholder until written)."""

from __future__ import annotations

from fastapi import APIRouter

from medcard.config import Settings

router = APIRouter(include_in_schema=False)


def configured(settings: Settings) -> bool:
    return bool(settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret)
