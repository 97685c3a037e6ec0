"""The scheduler: cron-scheduled runs of published flows (ARCHITECTURE.md §6, docs/scheduler.md).

- ``cron``: fire times from cronsim in the schedule's IANA zone, handled in UTC, and the
  misfire policy (pure functions).
- ``clock``: the system clock, or a fast one for tests (``PLAIT_SCHEDULER_CLOCK``).
- ``scheduler``: the loop that fires due schedules and hands their runs to the
  dispatcher, inside ``plait serve`` or alone as ``plait scheduler``.

The database side (state rows, firings, pause) is ``services.schedules``.

Key contracts:

- Fire times are computed in the schedule's zone and stored and compared in UTC.
- A firing's run (idempotency key = schedule id + fire time in UTC, unique) and the
  schedule's cursor commit in one transaction; the run is dispatched after the commit,
  and a run committed but never dispatched is still executed (the dispatcher resumes
  queued runs), so every firing runs exactly once however many schedulers run or die.
- A firing missed while no scheduler ran follows the schedule's policy: skipped, or caught
  up (at most ``catch_up_max``, capped by ``PLAIT_SCHEDULER_CATCH_UP_MAX``).

This package imports nothing at import time, so ``services.schedules`` can use ``cron``.
"""
