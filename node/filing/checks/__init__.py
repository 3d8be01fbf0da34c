"""Four-properties checks of DA/T 70-2018 (filing stage): authenticity, integrity, usability, security.

Self-contained: nothing here stores or files anything. Entry points:

    from node.filing.checks.engine import ItemInput, check_item, check_package
    from node.filing.checks.package import load_package           # directory / ZIP with manifest, BagIt bag
    from node.filing.checks.policy import load_policy, blocking

Codes and what trips them: node/filing/checks/CODES.md.
"""

ENGINE_VERSION = "archive-ledger-checks/1"
