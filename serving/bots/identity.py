"""Which Sillok user a chat account is: bound once by verified email, resolved on every message.

The binding stores the user's immutable id, so removing a user ends their bot access at the
next message (the binding then resolves to nobody and is dropped), and a new user who later
gets the same name or email is not the old one's binding. An email that names two users binds
nobody: a bot never guesses who is asking.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from core.acl import Principal
from core.db.models import ChatIdentity, Membership, User
from core.users import principal_of
from serving.bots.chat import ChatUser, Directory

log = structlog.get_logger(__name__)


class ChatIdentities:
    """Chat accounts bound to Sillok users."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def principal(self, who: ChatUser, directory: Directory) -> Principal | None:
        """The principal of the user `who` is bound to, binding it on first contact by the
        verified email the platform gives; None for an account of nobody Sillok knows."""
        key = (who.platform, who.tenant, who.external_id)
        with self._sessions.begin() as session:
            bound = session.get(ChatIdentity, key)
            if bound is not None:
                user = session.scalar(select(User).where(User.uid == bound.user_id))
                if user is not None:
                    return principal_of(user)
                session.delete(bound)  # the user was removed: the account is nobody's now
                log.info("bot_binding_dropped", platform=who.platform, user_id=bound.user_id)
        email = directory.email_of(who)
        if not email:
            return None
        with self._sessions() as session:
            matches = session.scalars(
                select(User).where(
                    func.lower(User.email) == email.strip().lower(), User.is_service.is_(False)
                )
            ).all()
            if len(matches) != 1:
                return None
            user = matches[0]
            principal = principal_of(user)
        try:
            with self._sessions.begin() as session:
                session.add(
                    ChatIdentity(
                        platform=who.platform,
                        tenant=who.tenant,
                        external_id=who.external_id,
                        user_id=user.uid,
                        email=email.strip().lower(),
                    )
                )
        except IntegrityError:
            pass  # bound by a concurrent message of the same account
        log.info("bot_binding_created", platform=who.platform, user_id=principal.user_id)
        return principal

    def principals(self, accounts: Sequence[ChatUser], directory: Directory) -> list[Principal | None]:
        """The principal of each account as it is now (None for nobody Sillok knows), the bound
        ones read in one query: a channel's members are resolved on every answer, so a change
        of anyone's groups or a removed user counts at the next answer, whatever is cached."""
        found: dict[tuple[str, str, str], Principal] = {}
        with self._sessions() as session:
            for platform, tenant in {(a.platform, a.tenant) for a in accounts}:
                ids = [a.external_id for a in accounts if (a.platform, a.tenant) == (platform, tenant)]
                rows = session.execute(
                    select(ChatIdentity.external_id, User)
                    .join(User, User.uid == ChatIdentity.user_id)
                    .where(
                        ChatIdentity.platform == platform,
                        ChatIdentity.tenant == tenant,
                        ChatIdentity.external_id.in_(ids),
                    )
                    .options(selectinload(User.memberships).selectinload(Membership.group))
                ).all()
                for external_id, user in rows:
                    found[(platform, tenant, external_id)] = principal_of(user)
        return [
            found.get((a.platform, a.tenant, a.external_id)) or self.principal(a, directory) for a in accounts
        ]
