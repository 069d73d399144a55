"""The worker: takes runs from the broker, executes them, heartbeats and reports."""
