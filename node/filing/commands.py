"""`archive-ledger checks` (local, no node) and `file` (a transfer package, over HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from node.core.cli import (
    DEFAULT_KEY_FILE,
    DEFAULT_NODE,
    ApiKeyFile,
    NodeUrl,
    emit,
    fail,
)
from node.core.client import node_client


def checks(
    package: Annotated[Path, typer.Argument(help="Directory or ZIP with manifest.csv/json, or a BagIt bag.")],
    fonds: Annotated[str | None, typer.Option(help="Fonds whose policy applies (default: the items' fonds).")] = None,
    policy: Annotated[Path | None, typer.Option(help="Policy file (default: node/filing/checks/policies).")] = None,
    clamd_socket: Annotated[
        str | None, typer.Option(envvar="ARCHIVE_LEDGER_CLAMD_SOCKET", help="clamd socket (else clamscan).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Four-properties checks (DA/T 70-2018) of a transfer package, locally and without filing.

    Exit 0: nothing blocks under the policy; 1: something blocks; 2: the package cannot be opened."""
    from node.filing.checks.antivirus import VirusScanner
    from node.filing.checks.engine import CheckConfig, check_package, default_process
    from node.filing.checks.package import PackageError, load_package
    from node.filing.checks.policy import apply, load_policy
    from node.filing.service import assign_codes, scope_text

    try:
        loaded = load_package(package)
    except (PackageError, OSError, ValueError) as exc:
        fail(f"cannot open package {package}: {exc}", 2)
    with loaded as pkg:
        config = CheckConfig(scanner=VirusScanner(clamd_socket=clamd_socket))
        # As filing does: items without a number get the next of their scope (here counted from the
        # rule's start, as in an empty archive; the node continues its own counters).
        expected = assign_codes(pkg.items, config, counters={})
        report = check_package(
            pkg.items, package=pkg.name, manifest=pkg.facts, config=config, process=default_process(),
            package_files=pkg.files, expected_start=lambda scope: expected.get(scope_text(scope), 1),
        )  # fmt: skip
    fonds_codes = {str(i.metadata.get("fonds_code")) for i in pkg.items if i.metadata.get("fonds_code")}
    chosen = fonds or (fonds_codes.pop() if len(fonds_codes) == 1 else None)
    blocked = apply(report, load_policy(chosen, policy))
    if as_json:
        emit(dict(report.to_dict(), digest=report.digest()))
    else:
        typer.echo(report.to_text())
    raise typer.Exit(1 if blocked else 0)


def file_cmd(
    package: Annotated[Path, typer.Argument(help="Directory (zipped on the fly) or ZIP with a manifest; or a bag.")],
    node: NodeUrl = DEFAULT_NODE,
    api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: Annotated[bool, typer.Option("--json", help="Print the node's answer as JSON.")] = False,
) -> None:
    """File a transfer package on the node (POST /packages): checked as a whole, all items or none.

    Exit 0: filed (or filed before: the same package is not filed twice); 1: rejected by the checks
    (nothing filed); 2: the package could not be sent or opened."""
    import tempfile

    from node.core.client import NodeRequestError, zip_directory
    from node.filing.service import report_from_dict

    try:
        client = node_client(node, "integrator_or_login", api_key_file=api_key_file)
    except Exception as exc:  # e.g. an API key file readable by others
        fail(str(exc), 2)
    with client, tempfile.TemporaryDirectory(prefix="archive-ledger-file-") as tmp:
        try:
            if package.is_dir():
                upload = zip_directory(package, Path(tmp) / f"{package.name}.zip")
            elif package.is_file():
                upload = package
            else:
                fail(f"no package at {package}", 2)
            answer = client.file_package(upload, name=upload.name)
        except NodeRequestError as exc:
            fail(str(exc), 2)
        except OSError as exc:
            fail(f"cannot read package {package}: {exc}", 2)
    if as_json:
        emit(answer)
    else:
        typer.echo(report_from_dict(answer["report"]).to_text())
        again = " (sent before: not filed again)" if answer.get("duplicate") else ""
        typer.echo(f"package {answer['id']}: {answer['status']}{again}")
        for item in answer.get("items") or []:
            typer.echo(f"  filed {item['id']}  {item['archival_code'] or '-'}  {item['source_path']}")
    raise typer.Exit(0 if answer["status"] == "FILED" else 1)
