"""Arrangement 件/卷/盒 and metadata edits after filing: workflow (service) and HTTP routes."""
