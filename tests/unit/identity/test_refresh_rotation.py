"""Refresh-token rotation over an in-memory repository: successor per use, replay revokes the
family, expiry, logout scoped to the owner. The Postgres adapter is covered by the API auth tests."""

from __future__ import annotations

import pytest

from tests.fakes.identity import InMemoryRefreshTokens
from tidewatch.identity.errors import InvalidRefreshToken
from tidewatch.identity.refresh import RefreshTokens

T0 = 1_795_960_800.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(clock: Clock) -> RefreshTokens:
    return RefreshTokens(InMemoryRefreshTokens(), lifetime_seconds=3600, clock=clock)


def test_each_use_returns_the_user_and_a_successor(tokens: RefreshTokens) -> None:
    first = tokens.issue(7)
    user, second = tokens.rotate(first.token)
    assert user == 7
    assert second.token != first.token
    assert tokens.rotate(second.token)[0] == 7


def test_a_replayed_token_revokes_its_whole_family(tokens: RefreshTokens) -> None:
    # Given a token that was rotated once (the successor is the user's live one)
    first = tokens.issue(7)
    _, live = tokens.rotate(first.token)
    # When the spent token is presented again, it is refused
    with pytest.raises(InvalidRefreshToken, match="already used"):
        tokens.rotate(first.token)
    # Then the live successor is revoked too
    with pytest.raises(InvalidRefreshToken, match="already used"):
        tokens.rotate(live.token)


def test_unknown_and_expired_tokens_are_refused(tokens: RefreshTokens, clock: Clock) -> None:
    with pytest.raises(InvalidRefreshToken, match="not known"):
        tokens.rotate("never-issued")
    issued = tokens.issue(7)
    clock.now += 3600
    with pytest.raises(InvalidRefreshToken, match="expired"):
        tokens.rotate(issued.token)


def test_logout_revokes_only_the_owners_token_family(tokens: RefreshTokens) -> None:
    alices, other_session = tokens.issue(1), tokens.issue(1)
    assert tokens.revoke(alices.token, user_id=2) is False
    assert tokens.revoke(alices.token, user_id=1) is True
    with pytest.raises(InvalidRefreshToken):
        tokens.rotate(alices.token)
    # Another sign-in of the same user is another family, untouched until revoke_all
    assert tokens.rotate(other_session.token)[0] == 1
    assert tokens.revoke_all(1) == 1
