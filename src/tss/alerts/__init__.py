"""Alerts: the keeper that raises them from the event log and the schedules, and the
channels that deliver them (email, Slack, signed webhooks, the log, plugins)."""
