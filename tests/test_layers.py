"""The layers (DESIGN, Architecture): the case store sits below the workflows, the activities
and the API, and knows none of them, nor the mail server's errors (issue 13): a module of
store/ that imports one fails here, naming the module and the import."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the store may not import: the layers above it, and the mailer (SMTP's failures are the
# mail activities' to judge: activities.delivery).
ABOVE_THE_STORE = ("workflows", "activities", "api", "web", "worker", "infra.mailer")


def imported(path: Path) -> list[str]:
    """Every module the file imports, at any depth (a function's own import too)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            # `from infra import mailer` imports infra.mailer.
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def forbidden(module: str) -> bool:
    return any(module == above or module.startswith(f"{above}.")
               for above in ABOVE_THE_STORE)


def test_the_store_imports_nothing_from_the_layers_above_it() -> None:
    files = sorted((ROOT / "store").rglob("*.py"))
    assert len(files) > 10, "store/ not found"
    wrong = [f"{path.relative_to(ROOT)}: {module}" for path in files
             for module in imported(path) if forbidden(module)]
    assert wrong == []


def test_the_check_sees_what_it_forbids(tmp_path: Path) -> None:
    """The check itself: each way of writing a forbidden import is caught, a neutral one not."""
    module = tmp_path / "m.py"
    module.write_text("import workflows.ids\nfrom infra import mailer\n"
                      "from api.errors import ApiError\nfrom infra.settings import Settings\n"
                      "def f() -> None:\n    from activities.delivery import deliver\n")
    assert [m for m in imported(module) if forbidden(m)] == [
        "workflows.ids", "infra.mailer", "api.errors", "api.errors.ApiError",
        "activities.delivery", "activities.delivery.deliver"]
