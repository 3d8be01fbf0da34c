"""The node's shared machinery: settings (read once), the context that builds every service once, db session and
models, principal and roles, the one error map, HTTP boundary helpers, the node client."""
