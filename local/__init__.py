"""The embedded runner (:class:`LocalStack`), the deployed topology on one machine
(:class:`CloudStack`, imported on first use) and the Google Workspace simulator.

``python -m local`` starts the embedded stack with a simulated domain of demo users;
``python -m local.cloudstack`` the CloudStack.
"""

from typing import Any

from local.stack import LocalStack, NeverSettles

__all__ = ["CloudStack", "LocalStack", "NeverSettles"]


def __getattr__(name: str) -> Any:
    if name == "CloudStack":
        from local.cloudstack.stack import CloudStack

        return CloudStack
    raise AttributeError(name)
