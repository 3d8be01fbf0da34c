"""利用统计 (issue 11, point 7): loans per month and per fonds, approval and access times, most lent items."""
