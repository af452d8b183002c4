"""An order request made ready to send exactly once: validated, hashed, and tagged with its idempotency key.

The tag is how the order is found again when its outcome is unknown: a digest of the account and the key, put at
the *start* of the order's ``comment``, which the trade server copies to the order, its deals and the position.
Servers may rewrite the *end* of a comment (MQL4's ``OrderSend`` reference: "Last part of the comment may be
changed by server"), so the caller's own comment goes after the tag, and the whole stays within the 27 characters
every terminal build accepts. Reconciliation also knows the request's fingerprint (symbol, type, volume, magic)
for servers that replace comments entirely (:func:`matches`; docs/trading.md, "Limits").
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mt5_worker.errors import InvalidRequestError
from mt5_worker.manager import market_requests as req
from mt5_worker.terminal import constants as c

# MqlTradeRequest.comment: the SDK refuses a longer comment (-2 'Invalid "comment" argument'), and the limit depends
# on the terminal's build (31, 29, or 28 accepted; docs/sdk-trading.md): 27 passes on every build reported.
COMMENT_LIMIT = 27
TAG_PREFIX = "#"
TAG_LENGTH = 13  # "#" + 12 base32 characters: 60 bits of the key's digest
USER_COMMENT_LIMIT = COMMENT_LIMIT - TAG_LENGTH - 1  # the caller's comment follows the tag and a space
KEY_LIMIT = 128
# Actions that create an order or a deal the account's history keeps (and reconciliation can find).
RECORDED_ACTIONS = frozenset({c.TRADE_ACTION_DEAL, c.TRADE_ACTION_PENDING, c.TRADE_ACTION_CLOSE_BY})
# Retcodes meaning the server took the request (done, placed, done partially).
ACCEPTED = frozenset({c.TRADE_RETCODE_DONE, c.TRADE_RETCODE_PLACED, 10010})


@dataclass(frozen=True)
class OrderIntent:
    """One account's order request under one idempotency key.

    ``request`` is what the port receives (constants as integers, the tag in ``comment``); ``fingerprint`` is a
    hash of the caller's validated request, so the same key with a different request can be refused. A desk call
    (:mod:`~mt5_worker.manager.desk_calls`) knows only part of its request until it reads the account: ``request``
    is then that part (what reconciliation needs), ``build`` makes the whole request from the terminal at send time
    (or raises :class:`Answered`), and the fingerprint is the call's, not the request's (the price changes).
    """

    login: int
    key: str
    request: dict[str, Any]
    tag: str
    fingerprint: str
    build: Callable[[Callable[..., Any]], dict[str, Any]] | None = None

    @property
    def symbol(self) -> str:
        return str(self.request.get("symbol", ""))

    @property
    def volume(self) -> float:
        return float(self.request.get("volume", 0.0))

    @property
    def recorded(self) -> bool:
        """Whether this action leaves an order or deal that carries the tag (see :data:`RECORDED_ACTIONS`)."""
        return self.request["action"] in RECORDED_ACTIONS

    def audit(self) -> dict[str, Any]:
        """What the audit log says of the request: never a password (the request holds none)."""
        fields = ("action", "type", "symbol", "volume", "price", "position", "order", "magic")
        return {"idempotency_key": self.key, "login": self.login} | {
            k: self.request[k] for k in fields if k in self.request
        }


class Answered(Exception):
    """A desk call that needs nothing sent (the position is already closed): ``result`` is its answer, in
    ``OrderSendResult``'s shape."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(result.get("comment", ""))
        self.result = result


def idempotency_key(value: Any) -> str:
    """A key of 1-128 printable characters (a UUID, or the caller's own order id)."""
    if not isinstance(value, str) or not 1 <= len(value) <= KEY_LIMIT or not value.isprintable():
        raise InvalidRequestError(
            f"invalid idempotency_key: a string of 1-{KEY_LIMIT} printable characters, unique per order "
            "(e.g. a UUID, or your own order id)"
        )
    return value


def tag_of(login: int, key: str) -> str:
    digest = hashlib.sha256(f"{login}\x00{key}".encode()).digest()
    return TAG_PREFIX + base64.b32encode(digest).decode("ascii")[: TAG_LENGTH - 1].lower()


def prepare(login: Any, request: Any, key: Any) -> OrderIntent:
    """Validate ``request`` (the ``MqlTradeRequest`` fields, constants by integer or lower-case name) and ``key``;
    raise :class:`InvalidRequestError` naming the field. Nothing touches the terminal."""
    account = req.ticket(login, "login")
    key = idempotency_key(key)
    fields = req.trade_request(request)
    comment = str(fields.pop("comment", ""))
    # Printable and in the Basic Multilingual Plane: the terminal may count UTF-16 units, not code points.
    if len(comment) > USER_COMMENT_LIMIT or not comment.isprintable() or any(ord(ch) > 0xFFFF for ch in comment):
        raise InvalidRequestError(
            f"invalid comment: at most {USER_COMMENT_LIMIT} printable characters for order_send (the order's "
            f"idempotency tag takes the first {TAG_LENGTH + 1} of the terminal's {COMMENT_LIMIT})"
        )
    _require(fields)
    tag = tag_of(account, key)
    return OrderIntent(account, key, fields | {"comment": f"{tag} {comment}" if comment else tag}, tag,
                       fingerprint_of(account, fields | {"comment": comment}))  # fmt: skip


def fingerprint_of(login: int, what: dict[str, Any]) -> str:
    """A hash of what a key stands for (a request, or a desk call and its arguments) for this account."""
    canonical = json.dumps(what, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{login}\x00{canonical}".encode()).hexdigest()


def _require(fields: dict[str, Any]) -> None:
    """The fields each action needs, named before the terminal answers 10013 for a missing one."""
    action = fields["action"]
    needs = {
        c.TRADE_ACTION_DEAL: ("symbol", "volume", "type"),
        c.TRADE_ACTION_PENDING: ("symbol", "volume", "type", "price"),
        c.TRADE_ACTION_SLTP: ("position",),
        c.TRADE_ACTION_MODIFY: ("order", "price"),
        c.TRADE_ACTION_REMOVE: ("order",),
        c.TRADE_ACTION_CLOSE_BY: ("position", "position_by"),
    }[action]
    missing = [name for name in needs if name not in fields]
    if missing:
        names = {v: k for k, v in req.TRADE_ACTIONS.items()}
        raise InvalidRequestError(f"invalid request: action {names[action]!r} needs {', '.join(missing)}")
    for ticket in ("position", "position_by", "order"):
        if ticket in fields and fields[ticket] <= 0:
            raise InvalidRequestError(f"invalid {ticket}: a ticket, a positive integer")
    if "volume" in fields and fields["volume"] <= 0:
        raise InvalidRequestError("invalid volume: a number of lots above 0")


def tagged(comment: str, tag: str) -> bool:
    """Whether a comment the server kept starts with ``tag`` (the end may have been rewritten)."""
    return comment.startswith(tag)


def matches(intent: OrderIntent, record: dict[str, Any]) -> bool:
    """Whether an order or deal record could be ``intent``'s execution when the server dropped the tag: same
    symbol, direction, volume and magic. Ambiguous by nature: only used to refuse a blind resend."""
    request = intent.request
    kind = record.get("type")
    return (
        record.get("symbol") == request.get("symbol")
        and kind is not None
        and int(kind) % 2 == int(request.get("type", -1)) % 2
        and abs(float(record.get("volume_initial", record.get("volume", -1.0))) - intent.volume) < 1e-9
        and int(record.get("magic", 0)) == int(request.get("magic", 0))
    )
