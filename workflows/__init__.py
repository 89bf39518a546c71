"""warmflow's engine room: BPMN processes run durably with SpiffWorkflow.

This package never imports Flask. The web app, the CLI, the timer worker and the
tests all drive it through the service modules named after the domain areas
(`processes`, `cases`, `tasks`, `notices`, `payments`, `timers`, ...).
"""

# The modules that register diagram functions (post_notice, request_payment, ...) and
# their effects must be loaded before any diagram is validated or run.
from workflows import archive, budgets, campaigns, cases, notices, payments  # noqa: E402,F401
from workflows.errors import (  # noqa: F401  (re-exported for callers)
    AlreadyDone,
    Conflict,
    Forbidden,
    NotFound,
    ValidationFailed,
    WarmflowError,
)
