"""archive-ledger: the operator and integrator command line. Thin: parse, call, print."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer

from anchor.errors import LedgerError
from node.anchoring import commands as anchoring
from node.arrangement import commands as arrangement
from node.audit import commands as audit
from node.core import commands as core
from node.core.cli import fail
from node.filing import commands as filing
from node.ingest import commands as ingest
from node.lending import commands as lending
from node.preservation import commands as preservation
from node.search import commands as search
from node.trust import commands as trust
from node.users import commands as users

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

# Top-level commands, in the order `archive-ledger --help` lists them; each lives in its slice's commands.py.
COMMANDS: list[tuple[str, Callable[..., Any]]] = [
    ("init", core.init),
    ("serve", core.serve),
    ("ingest", ingest.ingest),
    ("anchor", anchoring.anchor),
    ("proof", trust.proof),
    ("verify", trust.verify),
    ("verify-certificate", trust.verify_certificate_cmd),
    ("checks", filing.checks),
    ("file", filing.file_cmd),
    ("status", anchoring.status),
    ("login", users.login),
    ("logout", users.logout),
]
GROUPS: list[tuple[str, typer.Typer]] = [
    ("dev-chain", core.dev_chain),
    ("loan", lending.loan_app),
    ("permit", lending.permit_app),
    ("users", users.users_app),
    ("audit", audit.audit_app),
    ("trust", trust.trust_app),
    ("volumes", arrangement.volumes_app),
    ("boxes", arrangement.boxes_app),
    ("items", arrangement.items_app),
    ("preservation", preservation.preservation_app),
    ("search", search.search_app),
]

# The one map from errors to exit codes. Commands fail with their own code through node.core.cli.fail
# (2: bad usage or input that cannot be read; 1: refused, not authentic, blocked); any LedgerError a
# command lets through (the node refused, could not be reached, a credential file is unsafe) is exit 1.
EXIT_CODES: list[tuple[type[Exception], int]] = [(LedgerError, 1)]


def exit_codes(command: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command; map what escapes it through EXIT_CODES to `error: ...` on stderr and the code."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except tuple(kind for kind, _ in EXIT_CODES) as exc:
            fail(str(exc), next(code for kind, code in EXIT_CODES if isinstance(exc, kind)))

    return run


for _name, _command in COMMANDS:
    app.command(_name)(exit_codes(_command))
for _name, _group in GROUPS:
    for _info in _group.registered_commands:
        _info.callback = exit_codes(_info.callback) if _info.callback else None
    app.add_typer(_group, name=_name)


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
