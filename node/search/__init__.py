"""Search (issue 10): the index, queries, who sees what, the audit of searches."""
