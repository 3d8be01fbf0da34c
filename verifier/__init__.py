"""archive-ledger verifier: the trust root.

Imports nothing else from the project (only stdlib, rfc8785 and PyNaCl), so an auditor can check a
proof bundle or a certificate with this package alone.
"""
