"""Fake external services (Meta Graph API, OpenAI Responses API) served over real HTTP.

Used by tests, benchmarks and the local dev run: without an OPENAI_API_KEY the platform
answers with the fake OpenAI server, the "sandbox model". See server.py for how to run them.
"""

from app.sandbox.server import RunningServer, run_in_thread

__all__ = ["RunningServer", "run_in_thread"]
