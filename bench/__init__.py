"""Benchmarks: `mca bench SCENARIO` (ingest, e2e, faults, fanout, reads, all).

The harness (cluster.py) starts the real processes; the load generator (loadgen.py) runs in a
process of its own so it never shares an event loop with what it measures.
"""
