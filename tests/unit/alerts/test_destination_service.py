"""The destination service's business rules over an in-memory repository: one owner per
destination, the per-user limit, single-use Telegram codes, one-click unsubscribe, preferences.
Postgres tests cover the repository and the routes (tests/integration/alerts)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fakes.alerts import T0, InMemoryDestinations
from tidewatch.alerts.destinations import (
    MAX_DESTINATIONS,
    UNSUBSCRIBE_PURPOSE,
    ChatWebhookDestinationIn,
    DestinationPatch,
    DestinationService,
    DestinationSettings,
    Gone,
    Preferences,
)
from tidewatch.alerts.tokens import make_token
from tidewatch.errors import Conflict, InvalidInput, NotFound
from tidewatch.rules.egress import EgressPolicy

KEY = b"k" * 32


def discord(n: int = 0) -> ChatWebhookDestinationIn:
    return ChatWebhookDestinationIn(kind="discord", url=f"https://discord.com/api/webhooks/{10**17 + n}/{'t' * 40}")


@pytest.fixture
def store() -> InMemoryDestinations:
    return InMemoryDestinations()


@pytest.fixture
def clock() -> list:
    return [T0]


@pytest.fixture
def service(store: InMemoryDestinations, clock: list) -> DestinationService:
    # No DNS: every host resolves to one public address.
    return DestinationService(
        store,
        DestinationSettings(link_key=KEY, api_url="https://api.example.com", telegram_bot_username="tidewatch_bot"),
        egress=EgressPolicy(resolve=lambda host, port: ["93.184.215.14"]),
        clock=lambda: clock[0],
    )


def test_another_users_destination_is_not_found_for_every_operation(
    store: InMemoryDestinations, service: DestinationService
) -> None:
    # Given alice's Discord destination
    alice, bob = store.add_user(), store.add_user()
    mine = service.create(alice, discord())
    # When bob reads, renames, resubscribes or deletes it, Then each is a 404 and nothing changes
    with pytest.raises(NotFound):
        service.get(bob, mine.id)
    with pytest.raises(NotFound):
        service.update(bob, mine.id, DestinationPatch(label="mine now"))
    with pytest.raises(NotFound):
        service.resubscribe(bob, mine.id)
    with pytest.raises(NotFound):
        service.delete(bob, mine.id)
    assert service.list_for(bob) == []
    assert service.get(alice, mine.id).label == "Discord"


def test_the_destination_limit_refuses_one_more_and_stores_nothing(
    store: InMemoryDestinations, service: DestinationService
) -> None:
    # Given a user with the most destinations allowed
    user = store.add_user()
    for n in range(MAX_DESTINATIONS):
        service.create(user, discord(n))
    # When they add one more, Then it is a conflict and the count stays
    with pytest.raises(Conflict, match=f"at most {MAX_DESTINATIONS}"):
        service.create(user, discord(MAX_DESTINATIONS))
    assert len(service.list_for(user)) == MAX_DESTINATIONS


def test_the_same_webhook_twice_is_a_conflict(store: InMemoryDestinations, service: DestinationService) -> None:
    # Given a linked Discord webhook, When the same URL is added again, Then it is a conflict
    user = store.add_user()
    service.create(user, discord())
    with pytest.raises(Conflict, match="already linked"):
        service.create(user, discord())
    assert len(service.list_for(user)) == 1


def test_a_telegram_code_links_once_and_then_is_gone(store: InMemoryDestinations, service: DestinationService) -> None:
    # Given a code asked for by a user
    user = store.add_user()
    code = service.telegram_code(user, "My phone")
    assert code.link == f"https://t.me/tidewatch_bot?start={code.code}"
    # When the bot receives it (in any case), Then the chat becomes the user's verified destination
    linked = service.link_telegram(code.code.lower(), "4242")
    assert (linked.kind, linked.label, linked.verified, linked.state) == ("telegram", "My phone", True, "active")
    # ... and the same code again links nothing
    with pytest.raises(Gone, match="already used"):
        service.link_telegram(code.code, "4343")
    assert [d.id for d in service.list_for(user)] == [linked.id]


def test_an_expired_or_unknown_telegram_code_links_nothing(
    store: InMemoryDestinations, service: DestinationService, clock: list
) -> None:
    # Given a code past its ten minutes
    user = store.add_user()
    code = service.telegram_code(user)
    clock[0] = T0 + timedelta(minutes=10)
    # When it arrives, Then it is gone; a code nobody asked for (or not a code at all) is unknown
    with pytest.raises(Gone, match="expired"):
        service.link_telegram(code.code, "4242")
    with pytest.raises(NotFound):
        service.link_telegram("ZZZZZZZZZZ", "4242")
    with pytest.raises(NotFound):
        service.link_telegram("not a code!", "4242")
    assert service.list_for(user) == []


def test_a_chat_linked_by_another_user_moves_to_the_new_owner(
    store: InMemoryDestinations, service: DestinationService
) -> None:
    # Given alice linked a chat, When bob links the same chat with his own code
    alice, bob = store.add_user(), store.add_user()
    service.link_telegram(service.telegram_code(alice).code, "4242")
    moved = service.link_telegram(service.telegram_code(bob).code, "4242")
    # Then only bob has it
    assert service.list_for(alice) == []
    assert [d.id for d in service.list_for(bob)] == [moved.id]


def test_one_click_unsubscribe_stops_the_address_until_the_owner_resubscribes(
    store: InMemoryDestinations, service: DestinationService
) -> None:
    # Given a verified email destination
    user = store.add_user()
    with store.transaction() as records:
        row = records.insert_destination(
            user_id=user, kind="email", label="me", target="me@example.com", secret="{}", is_default=True, verified=True
        )
    # When a token signed for another address is used, Then it is refused and nothing changes
    wrong = make_token(KEY, UNSUBSCRIBE_PURPOSE, row["id"], "other@example.com", expires_at=None)
    with pytest.raises(NotFound):
        service.unsubscribe(wrong)
    assert service.get(user, row["id"]).state == "active"
    # When the real link is used, Then the destination is unsubscribed, and resubscribing restores it
    right = make_token(KEY, UNSUBSCRIBE_PURPOSE, row["id"], "me@example.com", expires_at=None)
    assert service.unsubscribe(right) == "me@example.com"
    assert service.get(user, row["id"]).state == "unsubscribed"
    assert service.resubscribe(user, row["id"]).state == "active"


def test_a_suppressed_address_shows_as_suppressed(store: InMemoryDestinations, service: DestinationService) -> None:
    # Given an email destination whose address bounced, When listed, Then its state says so
    user = store.add_user()
    with store.transaction() as records:
        records.insert_destination(
            user_id=user, kind="email", label="me", target="Me@Example.com", secret="{}", is_default=True, verified=True
        )
    store.suppress(["me@example.com"])
    assert [d.state for d in service.list_for(user)] == ["suppressed"]


def test_preferences_need_a_real_zone_and_both_ends_of_quiet_hours(
    store: InMemoryDestinations, service: DestinationService
) -> None:
    # Given a user with default preferences
    user = store.add_user()
    assert service.preferences(user) == Preferences()
    # When the zone is not an IANA zone, or quiet hours have only a start, Then 422 and nothing is stored
    with pytest.raises(InvalidInput, match="IANA"):
        service.set_preferences(user, Preferences(timezone="Mars/Olympus"))
    with pytest.raises(InvalidInput, match="both a start and an end"):
        service.set_preferences(user, Preferences(quiet_start="22:00"))
    assert service.preferences(user) == Preferences()
    # When both are valid, Then they read back as written
    wanted = Preferences(timezone="Europe/Berlin", quiet_start="22:00", quiet_end="07:00", quiet_min_severity="warning")
    assert service.set_preferences(user, wanted) == wanted
