"""Search (issue 10): text extraction of every item (extract, ocr, extraction) and the search index."""
