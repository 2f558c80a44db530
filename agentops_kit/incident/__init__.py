"""Postmortems of agent incidents that end in a control change: ``new_incident`` writes one from a run's
traces (with the run as a policy test case and the proposed policy change as a diff); ``check_incident``
says whether it is done."""

from .check import IncidentCheck, check_incident
from .facts import latest_impacted_run
from .postmortem import Incident, new_incident

__all__ = ["Incident", "IncidentCheck", "check_incident", "latest_impacted_run", "new_incident"]
