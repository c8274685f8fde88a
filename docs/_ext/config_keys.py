"""MkDocs hook for the docs build: the workflow's config keys, as a table read from the schema.

A page line ``<!-- config-keys -->`` is replaced by one row per key of ``config/schema/config.schema.yaml``
(key path, type, default, description), so the documented keys are always the validated ones. On GitHub
the comment shows nothing and the page's text points to the schema file instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

MARKER = "<!-- config-keys -->"
SCHEMA = Path(__file__).resolve().parents[2] / "config" / "schema" / "config.schema.yaml"


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``node`` with a ``$ref`` to ``#/$defs/X`` merged in (the node's own keys win)."""
    ref = node.get("$ref")
    if not ref:
        return node
    merged = dict(_resolve(defs[ref.rsplit("/", 1)[-1]], defs))
    merged.update({k: v for k, v in node.items() if k != "$ref"})
    return merged


def _type(node: dict[str, Any]) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type", "")
    kinds = [str(k) for k in (kind if isinstance(kind, list) else [kind]) if k]
    item = node.get("items")
    if isinstance(item, dict) and "array" in kinds:
        name = item["$ref"].rsplit("/", 1)[-1] if "$ref" in item else item.get("type", "object")
        kinds[kinds.index("array")] = f"list of {name}"
    return " or ".join(kinds)


def _keys(node: dict[str, Any], defs: dict[str, Any]) -> str:
    """For a list of objects or an object from ``$defs``: "keys: a, b, c"."""
    item = node.get("items") if isinstance(node.get("items"), dict) else node
    props = _resolve(item, defs).get("properties", {})
    return f" (keys: {', '.join(f'`{k}`' for k in props)})" if props else ""


def _rows(node: dict[str, Any], defs: dict[str, Any], prefix: str) -> list[str]:
    rows = []
    for key, raw in node.get("properties", {}).items():
        child = _resolve(raw, defs)
        path = f"{prefix}.{key}" if prefix else key
        if "$ref" not in raw and child.get("type") == "object" and "properties" in child:
            rows.extend(_rows(child, defs, path))
            continue
        default = f"`{json.dumps(child['default'])}`" if "default" in child else ""
        if len(default) > 60:
            default = "as in `config/config.yaml`"
        description = " ".join(str(child.get("description", "")).split()) + _keys(child, defs)
        description = description.replace("|", "\\|")
        rows.append(f"| `{path}` | {_type(child)} | {default} | {description} |")
    return rows


def config_table(schema_path: Path = SCHEMA) -> str:
    """The Markdown table of every leaf key of the workflow's config schema."""
    schema = yaml.safe_load(schema_path.read_text())
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    return "\n".join(lines + _rows(schema, schema.get("$defs", {}), ""))


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return markdown.replace(MARKER, config_table()) if MARKER in markdown else markdown
