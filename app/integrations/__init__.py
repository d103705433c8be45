"""Events to the tenant's own systems: signed webhooks, written to an outbox in the same
transaction as the change that causes them and posted by workers, at least once."""
