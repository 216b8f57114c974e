"""Re-seal a user's stored records with their current data key (after rotation).

Old data keys keep opening old records, so rotation never needs this to stay correct; it lets an
operator retire old keys early, e.g. after a suspected exposure:
``python -m shared.crypto.reseal user@example.com`` (deployed: with HYBRIDCAL_MODE=cloud settings).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from shared.store.base import Filter

if TYPE_CHECKING:
    from shared.runtime import Services

# collection -> field holding a sealed blob; the place is "<collection>|<document key>"
SEALED_FIELDS = {"meetings": "blob"}


def reseal_user(services: Services, email: str) -> int:
    """Re-seal every record of the user not sealed with the current key; returns the count."""
    user_id = services.pseudonym(email)
    resealed = 0
    for collection, field in SEALED_FIELDS.items():
        rows = services.store.query(collection, [Filter("user_id", "==", user_id)])

        def saver(key: str, coll: str = collection, fld: str = field) -> Callable[[str], None]:
            return lambda blob: services.store.merge(coll, key, {fld: blob})

        resealed += services.sealer.rotate_user(user_id, [
            (f"{collection}|{key}", doc[field], key, saver(key))
            for key, doc in rows if doc.get(field)])
    return resealed


def main(argv: list[str]) -> int:
    if len(argv) != 1 or "@" not in argv[0]:
        print("usage: python -m shared.crypto.reseal USER_EMAIL", file=sys.stderr)
        return 2
    from shared.runtime import from_environment

    count = reseal_user(from_environment(), argv[0])
    print(f"re-sealed {count} records with the current data key")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
