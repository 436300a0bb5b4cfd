"""Prefect flows for the monthly run, and the deployment that schedules it.

``flows.pipeline`` holds the flows, ``flows.deployment`` the schedule,
``flows.runners`` the task runner and ``flows.library`` every call into
``forecasting``. Nothing here holds logic of its own.
"""
