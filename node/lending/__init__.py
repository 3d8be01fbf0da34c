"""Lending: loan workflow and JSON views (service), ReadPermits on chain (permits), content access (access), routes."""
