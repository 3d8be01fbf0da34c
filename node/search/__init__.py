"""Search (issue 10): text extraction of every item (extract, ocr, extraction), the index, queries, who sees
what, the audit of searches."""
