"""Ingest: take an upload, store the blob, append its record to the fonds' log (service), its HTTP routes, batch
ingest for integrators."""
