"""The weekly review (``WeeklyReview``), the scheduled report (``weekly_report``: papermill + nbconvert) and
what the parameterized notebooks share."""

from .export import weekly_report
from .notebook import approvals_store, notebook_inputs, notebook_traces, one_line_errors, sample_settings
from .review import WeeklyReview

__all__ = ["WeeklyReview", "approvals_store", "notebook_inputs", "notebook_traces", "one_line_errors", "sample_settings",
           "weekly_report"]
