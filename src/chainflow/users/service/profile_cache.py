"""The personal part of each user's profile, kept in process for a few seconds.

``GET /api/v1/users/me`` is the read a front end makes most. Its role, tier and limits come
from the caller's ``Principal`` (the gateway's cache, dropped when any of them changes);
its personal part (e-mail, name, locale, time zone, verification, superadmin) comes from
here, so that a warm read makes no query at all.

This process forgets a user's entry as soon as the users service changes it (before the
commit, and again after it), so its own answers are never stale. Another process may show
the previous name or locale for at most ``PROFILE_CACHE_TTL_S``. Nothing here decides
access: a revoked session, a disabled user or a changed role is refused or changed by the
principal cache, whatever this one holds.
"""

from __future__ import annotations

from chainflow.core.clock import Clock
from chainflow.storage.relational import UnitOfWork
from chainflow.users.repository import PersonalDetails

PROFILE_CACHE_TTL_S = 5.0
MAX_PROFILES = 10_000


class ProfileCache:
    """User id -> ``PersonalDetails`` with a short time to live; bounded in size.

    A reader takes ``generation`` before its query and passes it to ``put``: when a change
    was forgotten in between, the row it read may predate the change and is not kept.
    """

    def __init__(
        self, clock: Clock, *, ttl_s: float = PROFILE_CACHE_TTL_S, max_entries: int = MAX_PROFILES
    ) -> None:
        self._clock = clock
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, PersonalDetails]] = {}
        self.generation = 0

    def get(self, user_id: str) -> PersonalDetails | None:
        """Return the user's details if held and younger than the time to live."""
        entry = self._entries.get(user_id)
        if entry is None:
            return None
        expires_at_s, details = entry
        if self._clock.monotonic() >= expires_at_s:
            del self._entries[user_id]
            return None
        return details

    def put(self, user_id: str, details: PersonalDetails, generation: int) -> None:
        """Keep ``details`` read after ``generation`` was taken, unless a change came since."""
        if generation != self.generation or self._ttl_s <= 0:
            return
        if len(self._entries) >= self._max_entries:
            self._entries.clear()  # rare; a full sweep would cost as much as refilling
        self._entries[user_id] = (self._clock.monotonic() + self._ttl_s, details)

    def forget(self, user_id: str) -> None:
        """Drop the user's entry and refuse entries read before now."""
        self.generation += 1
        self._entries.pop(user_id, None)

    def forget_on_commit(self, uow: UnitOfWork, user_id: str) -> None:
        """Forget the user now, and again once ``uow`` commits the change."""
        self.forget(user_id)

        async def forget_again() -> None:
            self.forget(user_id)

        uow.after_commit(forget_again)
