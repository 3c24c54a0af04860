"""The code's shape: imports point from features toward the core models, never in a circle."""

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter

import pytest

from channels_app.advanced_config import config_errors, schema
from channels_app.authentication import SCHEMES

from .conftest import PROJECT_DIR

APPS = ("accounts", "actions", "channels_app", "connective", "dialogs", "recordings")


def project_modules():
    """{dotted name: path} of the apps' modules (migrations aside)."""
    modules = {}
    for app in APPS:
        for path in (PROJECT_DIR / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported(name, path, modules):
    """The project modules a module imports, at its top or inside a function alike."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {module for module in found if module in modules and module != name}


def test_the_import_graph_of_the_apps_has_no_cycle():
    modules = project_modules()
    graph = {name: imported(name, path, modules) for name, path in modules.items()}
    assert "actions.enrichment" in graph["channels_app.worker"], "the walk sees imports"
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"an import circle: {' -> '.join(error.args[1])}") from None


def test_the_code_is_ruff_clean_and_formatted():
    ruff = [sys.executable, "-m", "ruff"]
    for command in (["check", "--quiet", "."], ["format", "--check", "--quiet", "."]):
        completed = subprocess.run([*ruff, *command], cwd=PROJECT_DIR, capture_output=True, text=True)
        assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-1000:]


@pytest.mark.django_db
def test_the_authentication_schemes_are_listed_once_and_everything_else_is_derived(admin_client):
    assert set(schema()["properties"]["authentication"]["properties"]["scheme"]["enum"]) == set(SCHEMES)
    assert all(name == scheme.name for name, scheme in SCHEMES.items())
    assert config_errors({"field_mapping": {"call_id": "id"}, "authentication": {"scheme": "no-such-scheme"}})
    page = admin_client.get("/admin/channels_app/telephonychannel/add/").content.decode()
    assert ", ".join(sorted(SCHEMES)) in page
