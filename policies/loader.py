"""Read a policy bundle from YAML, refusing anything the schema does not know.

The YAML is composed into nodes first so that every error can name ``FILE:LINE`` of the
offending key or value: an unknown key, a wrong type, a duplicate key, a bad range.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from policies.model import Bundle
from service.errors import PolicyError


class _Loader(yaml.SafeLoader):
    """Safe YAML where dates stay strings, so pydantic validates them with a line number."""


def _timestamp_as_string(loader: _Loader, node: yaml.Node) -> str:
    return str(node.value)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_string)

_HINT = "fix the lines named; the schema is documented in policies/model.py"


def load_bundle(path: Path) -> Bundle:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyError(f"cannot read policy file {path}: {error.strerror}") from error
    return parse_bundle(text, source=str(path))


def parse_bundle(text: str, *, source: str) -> Bundle:
    """The bundle in ``text``; PolicyError lists every problem as ``source:line: where: what``."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise PolicyError(f"{source}: the policy file is empty", hint=_HINT)
        _refuse_duplicate_keys(root, source)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else 0
        raise PolicyError(f"{source}:{line}: not valid YAML: {error.problem}") from error
    finally:
        loader.dispose()
    try:
        return Bundle.model_validate(data)
    except ValidationError as error:
        details = error.errors()
        problems = [_describe(d, root, source) for d in details if not _follows_from(d, details)]
        raise PolicyError(
            f"{source}: invalid policy bundle:\n  " + "\n  ".join(problems), hint=_HINT
        ) from error


def _refuse_duplicate_keys(node: yaml.Node, source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[object] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    line = key.start_mark.line + 1
                    raise PolicyError(f"{source}:{line}: duplicate key {key.value!r}", hint=_HINT)
                seen.add(key.value)
            _refuse_duplicate_keys(value, source)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(item, source)


def _follows_from(detail: ErrorDetails, details: list[ErrorDetails]) -> bool:
    """A "too short" list whose items were all refused repeats the items' own errors."""
    location = detail["loc"]
    return detail["type"] == "too_short" and any(
        other["loc"][: len(location)] == location and other["loc"] != location for other in details
    )


def _describe(detail: ErrorDetails, root: yaml.Node, source: str) -> str:
    line, path = _locate(root, detail["loc"])
    return f"{source}:{line}: {path or '(top level)'}: {detail['msg']}"


def _locate(root: yaml.Node, location: tuple[int | str, ...]) -> tuple[int, str]:
    """The line of the deepest key or item ``location`` reaches, and a readable path.
    Parts that name no node (the discriminator tag pydantic puts in union locations)
    are stepped over, except a last one: a missing field."""
    node, line, path = root, root.start_mark.line, ""
    for index, part in enumerate(location):
        step = _child(node, part)
        if step is not None:
            node, line = step
        elif index < len(location) - 1:
            continue
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return line + 1, path.lstrip(".")


def _child(node: yaml.Node, part: int | str) -> tuple[yaml.Node, int] | None:
    """The node under ``part`` and the line that names it (a mapping key's own line)."""
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item: yaml.Node = node.value[part]
        return item, item.start_mark.line
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value, key.start_mark.line
    return None
