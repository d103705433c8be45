"""Media customers send: downloaded by workers, kept in a media store, read by the agent."""
