"""The scheduler: turns due schedules into runs, publishes them, and repairs what crashed."""
