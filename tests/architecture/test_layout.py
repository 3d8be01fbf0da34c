"""Tests mirror the tree (issue 9, point 7): no test module at tests/ root, every test folder is a
package (so two modules may share a basename), and each folder names a part of the code.

Where a module goes: docs/design.md, "Tests"."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.paths import REPO_ROOT

TESTS = REPO_ROOT / "tests"
# tests/<top>/: the code they drive (node/ by slice), plus end to end, the house rules, and shared material.
TOP_FOLDERS = {"node", "anchor", "verifier", "contracts", "cli", "e2e", "architecture", "helpers", "data"}


def _test_modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if p.name.startswith("test_") or p.name.endswith("_test.py"))


def test_no_test_module_at_the_tests_root() -> None:
    at_root = [p.name for p in _test_modules(TESTS) if p.parent == TESTS]
    assert not at_root, (
        f"move {at_root} into the folder of the code they test (docs/design.md, 'Tests': tests/node/<slice>/, "
        "tests/anchor/, tests/verifier/, tests/contracts/, tests/cli/, tests/e2e/)"
    )


def test_test_folders_mirror_the_code() -> None:
    tops = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert tops <= TOP_FOLDERS, f"unknown folders under tests/: {sorted(tops - TOP_FOLDERS)}"
    slices = {p.name for p in (REPO_ROOT / "node").iterdir() if (p / "__init__.py").is_file()}
    for folder in {p.parent for p in _test_modules(TESTS / "node")}:
        rel = folder.relative_to(TESTS / "node")
        assert rel.parts and rel.parts[0] in slices, f"tests/node/{rel} names no slice of node/"
        assert (REPO_ROOT / "node" / rel).is_dir(), f"tests/node/{rel} mirrors no folder node/{rel}"


def test_every_test_folder_is_a_package() -> None:
    """With __init__.py all the way down, pytest imports tests.node.users.test_users and the like, so
    two modules with one basename in different folders cannot collide."""
    for module in _test_modules(TESTS):
        folder = module.parent
        while folder != TESTS.parent:
            assert (folder / "__init__.py").is_file(), f"{folder.relative_to(REPO_ROOT)} has no __init__.py"
            folder = folder.parent


def test_the_guard_sees_a_module_at_the_root(tmp_path: Path) -> None:
    """The root check can fail: a module dropped at the root of a tests/ tree is found."""
    (tmp_path / "test_new_thing.py").write_text("def test_x() -> None: ...\n")
    (tmp_path / "node").mkdir()
    (tmp_path / "node" / "test_deep.py").write_text("")
    assert [p.name for p in _test_modules(tmp_path) if p.parent == tmp_path] == ["test_new_thing.py"]
