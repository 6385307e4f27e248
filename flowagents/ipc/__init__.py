"""IPC between the worker and its processes: typed messages, channel, job processes, pool."""
