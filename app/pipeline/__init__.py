"""The message path: ingest statements, the batch state machine, delivery, the
sweeper, the ordering lock and the breakers."""
