"""Open documents remembered between runs, and the tombstones for what has gone since.

Kinetic deletes only documents still in entry (unposted AP invoices and payments, open POs) and
their rows (invoice lines with their allocations, PO lines before receipt), and a delete leaves
nothing behind to read. So each run remembers, per open document, the keys of its child rows;
the next run compares: a remembered document that is neither open now nor read again, and that a
keyed lookup no longer finds, is gone with its children; a child key missing from a document read
again is a deleted row. Posted and closed documents cannot lose rows and are forgotten.
"""

from __future__ import annotations

import json
import typing as t

STATE_KEY = "open_documents"
DELETED_FIELD = "_sdc_deleted_at"

Key = tuple[t.Any, ...]
#: child stream name → keys of its rows under one document (the part after the document key).
ChildKeys = dict[str, set[Key]]


def load(state: dict[str, t.Any]) -> dict[Key, ChildKeys]:
    """The open documents the previous run saw, with their child keys."""
    stored = state.get(STATE_KEY)
    if not isinstance(stored, dict):
        return {}
    documents: dict[Key, ChildKeys] = {}
    for text, children in stored.items():
        try:
            key = tuple(json.loads(text))
        except (ValueError, TypeError):
            continue
        documents[key] = {
            name: {tuple(k) for k in keys}
            for name, keys in (children or {}).items()
            if isinstance(keys, list)
        }
    return documents


def store(state: dict[str, t.Any], documents: dict[Key, ChildKeys]) -> None:
    """Save the open documents of this run (compact: keys only, sorted for stable state)."""
    state[STATE_KEY] = {
        json.dumps(list(key), separators=(",", ":")): {
            name: sorted((list(k) for k in keys), key=json.dumps)
            for name, keys in sorted(children.items())
        }
        for key, children in sorted(documents.items(), key=lambda item: json.dumps(item[0]))
    }


def missing_children(before: ChildKeys, now: ChildKeys) -> dict[str, set[Key]]:
    """Child keys remembered but no longer there, per child stream read both times."""
    return {
        name: gone for name, keys in before.items() if name in now and (gone := keys - now[name])
    }


def tombstone(fields: t.Sequence[str], values: Key, deleted_at: str) -> dict[str, t.Any]:
    """A record that says the row with this primary key was deleted at `deleted_at`."""
    record = dict(zip(fields, values, strict=True))
    record[DELETED_FIELD] = deleted_at
    return record
