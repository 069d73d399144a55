"""Pure domain logic: models, schedules, retry policy, the run state machine. No I/O."""
