"""A quick run of every benchmark scenario: only the correctness counts are asserted.

Figures from a few seconds on a shared machine mean nothing; lost, duplicated or reordered
messages mean a bug at any size.
"""

from __future__ import annotations

import pytest

from bench.run import run


@pytest.mark.timeout(300)
@pytest.mark.parametrize("scenario", ["e2e", "faults"])
def test_pipeline_scenarios_answer_every_message_once_in_order(test_env, scenario):
    results = run([scenario], quick=True, write=False)[scenario]
    assert results["accepted"] > 0
    assert results["answered"] == results["accepted"], results["details"]
    assert results["fifo_violations"] == 0, results["details"]
    assert results["duplicates"] == 0, results["details"]
    assert results["lost"] == 0, results["details"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("scenario", ["ingest", "fanout", "reads"])
def test_load_scenarios_run_without_errors(test_env, scenario):
    results = run([scenario], quick=True, write=False)[scenario]
    if scenario == "ingest":
        assert all(s["errors"] == 0 for s in results["steps"])
        assert all(s["errors"] == 0 for s in results["floor_steps"])
    elif scenario == "fanout":
        run_ = results["runs"][0]
        assert run_["connected"] == run_["subscribers"], run_["failures"]
        assert run_["events_delivered"] == run_["events_published"]
    else:
        assert all(p["errors"] == 0 for p in results["pages"].values())
