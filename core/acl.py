"""Access-control tokens: the vocabulary shared by documents, principals and the vector index.

A document's ACL becomes a set of tokens stored with every chunk; a principal's identity becomes a
set of tokens; a chunk is readable exactly when the two sets intersect. Deny by default: an empty
ACL yields no tokens and so admits nobody. `readable_in_sql` and `readable_token_rows` are the
same rule as SQL over the registry's token rows, for lists that must not read every document to
filter them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, exists, true

from core.db.models import DocumentAclToken

PUBLIC = "public"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


def valid_name(name: str) -> bool:
    """True when `name` is acceptable as a user or group name (no separators, no spaces)."""
    return bool(_NAME.match(name))


def user_token(user_id: str) -> str:
    """The token that grants one user access, by the user's immutable id (never by name: a
    name can be deleted and given to somebody else)."""
    return f"user:{user_id}"


def group_token(group: str) -> str:
    """The token that grants every member of a group access."""
    return f"group:{group}"


@dataclass(frozen=True)
class Acl:
    """Who may read a document: users (by immutable id), named groups, or everyone (`public`).

    Entrances translate user names to ids when they take an ACL in and back when they show one.
    """

    users: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)
    public: bool = False

    @classmethod
    def of(cls, users: Iterable[str] = (), groups: Iterable[str] = (), public: bool = False) -> Acl:
        """Build an ACL from any iterables, validating every user id and group name."""
        acl = cls(frozenset(users), frozenset(groups), public)
        bad = sorted(n for n in acl.users | acl.groups if not valid_name(n))
        if bad:
            from core.errors import InvalidInput

            raise InvalidInput(f"invalid user or group name(s) in ACL: {', '.join(bad)}")
        return acl

    def tokens(self) -> frozenset[str]:
        """The tokens stored with every chunk of the document."""
        tokens = {user_token(u) for u in self.users} | {group_token(g) for g in self.groups}
        if self.public:
            tokens.add(PUBLIC)
        return frozenset(tokens)

    def as_dict(self) -> dict[str, object]:
        """The public JSON shape of an ACL."""
        return {"users": sorted(self.users), "groups": sorted(self.groups), "public": self.public}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the only thing that can unlock content.

    `user_id` is the account's immutable id; `username` is for display and audit. A principal
    without an id holds no user token (deny by default). `key_prefix` names the API key it came
    with (for the audit log); `scopes` limits that key's routes (None: every right of the user).
    Neither changes what content the principal may read, so neither takes part in equality.

    `audience` narrows what is readable to what every listener may read: one token set per other
    member of a chat channel the answer is posted to. A chunk is readable when its ACL meets the
    principal's own tokens and every one of those sets.
    """

    username: str
    groups: frozenset[str] = field(default_factory=frozenset)
    is_admin: bool = False
    user_id: str = ""
    key_prefix: str | None = field(default=None, compare=False)
    scopes: frozenset[str] | None = field(default=None, compare=False)
    audience: tuple[frozenset[str], ...] = ()

    def tokens(self) -> frozenset[str]:
        """Every token this principal holds; computed here and nowhere else."""
        held = {PUBLIC} | {group_token(g) for g in self.groups}
        if self.user_id:
            held.add(user_token(self.user_id))
        return frozenset(held)

    def can_read(self, acl_tokens: Iterable[str]) -> bool:
        """True when the principal, and every member of its audience, holds one of `acl_tokens`."""
        acl = frozenset(acl_tokens)
        return all(not held.isdisjoint(acl) for held in (self.tokens(), *self.audience))

    def heard_by(self, listeners: Iterable[frozenset[str]]) -> Principal:
        """This principal narrowed to what each of `listeners` (their token sets) may also read.

        Sets that add no restriction (a superset of one already required) are dropped, so a
        channel of many members with the same groups costs one condition, not one per member.
        """
        required = [self.tokens(), *self.audience]
        for held in sorted({frozenset(t) for t in listeners}, key=len):
            if not any(kept <= held for kept in required):
                required.append(held)
        return replace(self, audience=tuple(required[1:]))


def readable_in_sql(
    principal: Principal, document_id: SQLColumnExpression[str], every_document: bool = False
) -> ColumnElement[bool]:
    """SQL condition: the document whose id is `document_id` has an ACL token the principal
    holds (the rule of `Principal.can_read`, over the registry's `document_acl_tokens`).

    `every_document` drops the condition, for an admin who asks to manage every document (an
    admin can already change any document's ACL); anyone else asking for it is refused.
    """
    if every_document:
        require_admin_for_every_document(principal)
        return true()
    return and_(
        *(
            exists().where(
                DocumentAclToken.document_id == document_id, DocumentAclToken.token.in_(sorted(held))
            )
            for held in (principal.tokens(), *principal.audience)
        )
    )


def readable_token_rows(principal: Principal) -> list[ColumnElement[bool]]:
    """The same rule split by token: one condition on `document_acl_tokens` per token the
    principal holds. A document is readable exactly when one of its token rows meets one of
    them, so a list can read each token's rows in index order and merge them. A principal
    narrowed to an audience (a chat channel's) has no such split and is refused."""
    if principal.audience:
        raise ValueError("a principal narrowed to an audience cannot list documents by token")
    return [DocumentAclToken.token == token for token in sorted(principal.tokens())]


def require_admin_for_every_document(principal: Principal) -> None:
    """Refuse (403) anyone but an admin asking for every document, readable or not."""
    if not principal.is_admin:
        from core.errors import Forbidden

        raise Forbidden("only an admin can list every document")


def explain(principal: Principal, acl: Acl) -> list[dict[str, str]]:
    """Why `principal` may read a document with `acl`: each of its tokens that matches an ACL
    entry, with the entry and a sentence. Empty when it may not."""
    reasons: list[dict[str, str]] = []
    held = principal.tokens()
    if acl.public and PUBLIC in held:
        reasons.append({"token": PUBLIC, "entry": "public", "reason": "the document is public"})
    if principal.user_id in acl.users and user_token(principal.user_id) in held:
        reasons.append(
            {
                "token": user_token(principal.user_id),
                "entry": f"users: {principal.username}",
                "reason": "you are named in the document's ACL",
            }
        )
    for group in sorted(acl.groups & principal.groups):
        reasons.append(
            {
                "token": group_token(group),
                "entry": f"groups: {group}",
                "reason": f"you are a member of {group}",
            }
        )
    return reasons
