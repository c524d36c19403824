"""Sign-In with Ethereum → JWT: nonce, verify, refresh, logout, and who am I."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from api.deps import CurrentUser, ServicesDep, limit_by_ip, limit_nonce_by_ip
from tidewatch.identity.signin import Session

router = APIRouter(prefix="/auth", tags=["auth"])


class NonceOut(BaseModel):
    nonce: str = Field(description="Put it in the EIP-4361 message's `Nonce:` line; it works once.")
    expires_in: int = Field(description="Seconds the nonce stays valid.")


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=4096, description="The EIP-4361 message, exactly as signed.")
    signature: str = Field(
        min_length=4, max_length=4096, pattern=r"^0x[0-9a-fA-F]+$", description="personal_sign signature (0x hex)."
    )


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=16, max_length=256)


class LogoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str | None = Field(default=None, min_length=16, max_length=256)
    everywhere: StrictBool = Field(default=False, description="Revoke every session of this user.")


class UserOut(BaseModel):
    id: int
    address: str
    plan: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    refresh_token: str
    refresh_expires_at: datetime
    user: UserOut


def _tokens(session: Session) -> TokenOut:
    return TokenOut(
        access_token=session.access_token,
        expires_in=session.access_expires_in,
        refresh_token=session.refresh_token,
        refresh_expires_at=session.refresh_expires_at,
        user=UserOut(id=session.user.id, address=session.user.address, plan=session.user.plan),
    )


_PROBLEMS = {
    400: {"description": "Malformed message or unsupported chain (problem+json)."},
    401: {"description": "Domain/URI mismatch, bad nonce, expired, bad signature (problem+json)."},
    429: {"description": "Rate limited (problem+json, Retry-After)."},
}


@router.get("/nonce", dependencies=[Depends(limit_nonce_by_ip)], responses={503: {"description": "Redis down"}})
def issue_nonce(svc: ServicesDep, response: Response) -> NonceOut:
    response.headers["Cache-Control"] = "no-store"
    return NonceOut(nonce=svc.require_sign_in().issue_nonce(), expires_in=svc.deps.auth.nonce_seconds)


@router.post("/verify", dependencies=[Depends(limit_by_ip)], responses=_PROBLEMS)  # type: ignore[arg-type]
def verify(body: VerifyIn, svc: ServicesDep, response: Response) -> TokenOut:
    response.headers["Cache-Control"] = "no-store"
    return _tokens(svc.require_sign_in().verify(body.message, body.signature))


@router.post("/refresh", dependencies=[Depends(limit_by_ip)], responses={401: {"description": "Invalid refresh token"}})
def refresh(body: RefreshIn, svc: ServicesDep, response: Response) -> TokenOut:
    """Trade a refresh token for a new access token and its successor (the old one stops working)."""
    response.headers["Cache-Control"] = "no-store"
    return _tokens(svc.require_sign_in().refresh(body.refresh_token))


@router.post("/logout", status_code=204, dependencies=[Depends(limit_by_ip)])
def logout(body: LogoutIn, user: CurrentUser, svc: ServicesDep) -> Response:
    """Revoke the given refresh token's sign-in (or every sign-in with `everywhere`)."""
    refresh_tokens = svc.require_sign_in().refresh_tokens
    if body.everywhere:
        refresh_tokens.revoke_all(user.user_id)
    elif body.refresh_token:
        refresh_tokens.revoke(body.refresh_token, user_id=user.user_id)
    return Response(status_code=204)


@router.get("/me", dependencies=[Depends(limit_by_ip)])
def me(user: CurrentUser) -> UserOut:
    return UserOut(id=user.user_id, address=user.address, plan=user.plan)
