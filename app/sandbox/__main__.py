"""`python -m app.sandbox {graph|openai} --port N [--latency-ms X]`, e.g. for benchmarks."""

from app.sandbox.server import main

main()
