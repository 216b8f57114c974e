"""A Google Workspace simulator that the real google-auth and googleapiclient talk to.

Product code: the embedded stack and every test use it. See :class:`WorkspaceSimulator`.
"""

from local.workspace_sim.simulator import WorkspaceSimulator

__all__ = ["WorkspaceSimulator"]
