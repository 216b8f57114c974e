"""The embedded runner (:class:`LocalStack`) and the Google Workspace simulator.

``python -m local`` starts the embedded stack with a simulated domain of demo users.
"""

from local.stack import LocalStack, NeverSettles

__all__ = ["LocalStack", "NeverSettles"]
