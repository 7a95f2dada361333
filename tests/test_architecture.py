"""The shape docs/architecture.md promises: no import cycles, small functions, the shared vocabulary in one place."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "fseval"
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every fseval module ``name`` imports, at the top or inside a function (deferred imports count)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])]
                )
            targets.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names)
    resolved = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


def test_no_import_cycles() -> None:
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


# The layers, top to bottom. A module imports only from its own package and from the layers below; the
# modules at the top of fseval/ (types, errors, config, record, progress, outputs ...) are the bottom layer.
LAYERS = (
    ("__main__",),
    ("cli", "instruments"),
    ("run", "reports"),
    ("models", "tasks"),
    ("data", "metrics", "media"),
)
BOTTOM = len(LAYERS)
# Inside models/, the shared parts that families build on; every other package there is a model family.
MODELS_SHARED = {"engine"}


def package(module: str) -> str:
    """``fseval.run.runner`` -> ``run``; a module at the top of fseval/ -> "" (the bottom layer)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else ""


def layer(module: str) -> int:
    name = package(module) or module.split(".")[-1]
    return next((i for i, names in enumerate(LAYERS) if name in names), BOTTOM)


def family(module: str) -> str | None:
    """The model family a module belongs to (``fseval.models.idefics.adapter`` -> ``idefics``), if any."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] == "models" and parts[2] not in MODELS_SHARED:
        return parts[2] if (PACKAGE / "models" / parts[2]).is_dir() else None
    return None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports that point up or sideways across packages, and imports of a model family from outside it."""
    found = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            same_package = package(source) == package(target)
            if not same_package and layer(target) <= layer(source) and not layer(source) == layer(target) == BOTTOM:
                found.append(f"{source} -> {target} (layer {layer(source)} may not import layer {layer(target)})")
            elif family(target) is not None and family(source) != family(target):
                found.append(f"{source} -> {target} (a model family is reached through fseval.models.registry)")
    return found


def test_imports_point_down_the_layers() -> None:
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert layer_violations(graph) == []


def test_the_layer_check_catches_what_it_should() -> None:
    """A deliberately wrong graph: each bad import below is reported, the good ones are not."""
    bad = {
        "fseval.data.vqa": {"fseval.run.runner"},  # up: data -> run
        "fseval.metrics.vqa": {"fseval.data.base"},  # sideways: two packages of one layer
        "fseval.models.hf_vlm.ranking": {"fseval.models.idefics.adapter"},  # one family -> another
        "fseval.models.engine.decoding": {"fseval.models.openflamingo.flamingo"},  # the engine -> a family
        "fseval.run.preflight": {"fseval.models.openflamingo.presets"},  # a family, from outside models
    }
    good = {
        "fseval.run.runner": {"fseval.models.registry", "fseval.tasks.spec", "fseval.types", "fseval.run.store"},
        "fseval.models.idefics.adapter": {"fseval.models.engine.decoding", "fseval.models.idefics.inputs"},
        "fseval.config": {"fseval.record", "fseval.devices"},
    }
    found = layer_violations({**bad, **good})
    assert [line.split(" ")[0] for line in found] == sorted(bad)


def test_functions_stay_small() -> None:
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, long


def test_the_shared_vocabulary_is_defined_once() -> None:
    """Prompts, media and samples live in fseval/types.py; nothing else defines a class of those names."""
    shared = {"Prompt", "Media", "MediaRef", "Sample", "GenerationSettings", "Ranked", "VideoSampling"}
    defined = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and node.name in shared:
                defined.setdefault(node.name, []).append(path.name)
    assert defined == {name: ["types.py"] for name in shared}
