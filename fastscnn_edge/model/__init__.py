"""The Fast-SCNN network (its architecture as a table checked against the paper), native
checkpoints, import of the public checkpoints, and the registry of public weights. torch lives
here (imported lazily)."""
