"""The HTTP API (``dvrules serve``): flows, questions, assessments, interviews and reports
over JSON, for apps not written in Python. Needs the ``http`` extra (FastAPI, uvicorn)."""

from dvrules.http.app import SESSION_HEADER, TOKEN_ENV, create_app

__all__ = ["SESSION_HEADER", "TOKEN_ENV", "create_app"]
