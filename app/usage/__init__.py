"""Usage: what a tenant's agents and operators did over a period, from messages and the ledger."""
