"""The sign-in flow: check an EIP-4361 message and its signature, then open a session for the user."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tidewatch.identity.errors import InvalidNonce, InvalidRefreshToken, InvalidSignature, MalformedSiweMessage
from tidewatch.identity.nonces import NonceStore
from tidewatch.identity.refresh import RefreshTokens
from tidewatch.identity.repository import User, UserRepository
from tidewatch.identity.signatures import ContractSignatureChecker, signature_matches
from tidewatch.identity.siwe import SiteRules, check_rules, parse_message
from tidewatch.identity.tokens import TokenService
from tidewatch.observability import MetricUnit, metrics


@dataclass(frozen=True)
class Session:
    user: User
    access_token: str
    access_expires_in: int
    refresh_token: str
    refresh_expires_at: datetime


def decode_signature(signature: str) -> bytes:
    text = signature[2:] if signature.startswith(("0x", "0X")) else signature
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise MalformedSiweMessage("signature must be 0x-prefixed hex", field="signature") from exc


class SignIn:
    def __init__(
        self,
        *,
        rules: SiteRules,
        nonces: NonceStore,
        users: UserRepository,
        tokens: TokenService,
        refresh: RefreshTokens,
        contracts: ContractSignatureChecker | None,
        clock: Callable[[], float],
    ) -> None:
        self._rules = rules
        self._nonces = nonces
        self._users = users
        self._tokens = tokens
        self._refresh = refresh
        self._contracts = contracts
        self._clock = clock

    @property
    def refresh_tokens(self) -> RefreshTokens:
        return self._refresh

    def issue_nonce(self) -> str:
        return self._nonces.issue()

    def verify(self, message_text: str, signature: str) -> Session:
        message = parse_message(message_text)
        raw_signature = decode_signature(signature)
        check_rules(message, self._rules, datetime.fromtimestamp(self._clock(), UTC))
        # The nonce is spent before the signature is checked: a message is good for one attempt,
        # so a forged signature cannot be retried against the same nonce.
        if not self._nonces.consume(message.nonce):
            raise InvalidNonce("nonce is unknown, expired or already used; request a new one")
        if not signature_matches(message_text, raw_signature, message.address, message.chain_id, self._contracts):
            metrics.add_metric(name="SignInRejected", unit=MetricUnit.Count, value=1)
            raise InvalidSignature("the signature was not made by the message's address")
        user = self._users.sign_in(message.address)
        metrics.add_metric(name="SignIn", unit=MetricUnit.Count, value=1)
        return self.open_session(user)

    def open_session(self, user: User) -> Session:
        refresh = self._refresh.issue(user.id)
        return Session(
            user=user,
            access_token=self._tokens.issue(user_id=user.id, address=user.address, plan=user.plan),
            access_expires_in=self._tokens.lifetime_seconds,
            refresh_token=refresh.token,
            refresh_expires_at=refresh.expires_at,
        )

    def refresh(self, refresh_token: str) -> Session:
        user_id, successor = self._refresh.rotate(refresh_token)
        user = self._users.get(user_id)
        if user is None:  # deleted meanwhile (ON DELETE CASCADE would also have removed the token)
            raise InvalidRefreshToken("the user of this refresh token no longer exists")
        return Session(
            user=user,
            access_token=self._tokens.issue(user_id=user.id, address=user.address, plan=user.plan),
            access_expires_in=self._tokens.lifetime_seconds,
            refresh_token=successor.token,
            refresh_expires_at=successor.expires_at,
        )


def site_rules(domain: str, uri: str, chain_ids: list[int], clock_skew_seconds: int, nonce_seconds: int) -> SiteRules:
    return SiteRules(
        domain=domain,
        uri=uri,
        chain_ids=frozenset(chain_ids),
        clock_skew=timedelta(seconds=clock_skew_seconds),
        # A message can't be older than its nonce, which lives nonce_seconds.
        max_age=timedelta(seconds=nonce_seconds),
    )
