"""CloudStack: the topology ``infra/`` deploys, run on one machine (see :mod:`.stack`).

Importing this package starts nothing and imports no Google client library.
"""

from local.cloudstack.ledger import NeverSettles

__all__ = ["CloudStack", "NeverSettles"]


def __getattr__(name: str) -> object:
    if name == "CloudStack":
        from local.cloudstack.stack import CloudStack

        return CloudStack
    raise AttributeError(name)
