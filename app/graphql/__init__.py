"""The GraphQL API: a schema assembled from the domains' `graphql.py` modules (see schema.py)."""
