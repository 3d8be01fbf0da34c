"""Filing of transfer packages: the four-properties checks (checks/), reference codes, filing into the log
(service), its routes."""
