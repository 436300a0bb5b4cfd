"""The Bordercast HTTP service: a FastAPI shell around the ``forecasting`` library.

Nothing here computes a forecast or detects a surge; the routes read what the
library stored and turn its errors into HTTP statuses in one place
(:mod:`service.app`). Calls into library functions that are still being written
go through :mod:`service.backend` only.
"""
