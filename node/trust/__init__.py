"""Trust root of the node (service), proof bundles, verification and certificates over HTTP (routes)."""
