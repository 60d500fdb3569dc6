"""Review and dispatch (审核 → 立案 → 派遣 → … → 结案): workflow, routing, time limits, reviewer workspace."""
