"""Build translations/en.json from strings.json and check the other languages against it.

Home Assistant builds core integrations' English from ``strings.json``; a custom integration
ships ``translations/*.json`` as they are, so ``[%key:...%]`` references must be resolved
here. Run with the development venv (it reads Home Assistant's own common strings):

    .venv/bin/python scripts/translations.py          # write translations/en.json
    .venv/bin/python scripts/translations.py --check  # exit 1 if anything is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import string
import sys
from pathlib import Path
from typing import Any

import homeassistant

ROOT = Path(__file__).resolve().parent.parent
INTEGRATION = ROOT / "custom_components" / "iot_monitor"
DOMAIN = INTEGRATION.name
TRANSLATIONS = INTEGRATION / "translations"
HA_ROOT = Path(homeassistant.__file__).parent
REFERENCE = re.compile(r"\[%key:([a-z0-9_:]+)%\]")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _source(reference: str) -> tuple[dict[str, Any], list[str]]:
    """The strings a reference points into, and the key path inside them."""
    parts = reference.split("::")
    if parts[0] == "common":
        return _load(HA_ROOT / "strings.json"), parts
    if parts[0] == "component" and len(parts) > 2:
        domain = parts[1]
        path = (
            INTEGRATION / "strings.json"
            if domain == DOMAIN
            else (HA_ROOT / "components" / domain / "strings.json")
        )
        return _load(path), parts[2:]
    raise KeyError(reference)


def _lookup(reference: str, seen: tuple[str, ...] = ()) -> str:
    if reference in seen:
        raise ValueError(f"circular reference: {' -> '.join((*seen, reference))}")
    node: Any
    node, path = _source(reference)
    for part in path:
        node = node[part]
    if not isinstance(node, str):
        raise KeyError(reference)
    return _resolve(node, (*seen, reference))


def _resolve(text: str, seen: tuple[str, ...] = ()) -> str:
    return REFERENCE.sub(lambda match: _lookup(match.group(1), seen), text)


def _resolved(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _resolved(value) for key, value in node.items()}
    return _resolve(node)


def _leaves(node: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(node, dict):
        leaves: dict[str, str] = {}
        for key, value in node.items():
            leaves |= _leaves(value, f"{prefix}.{key}" if prefix else key)
        return leaves
    return {prefix: node}


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def english() -> str:
    """The text translations/en.json must have."""
    strings = _resolved(_load(INTEGRATION / "strings.json"))
    return json.dumps(strings, indent=2, ensure_ascii=False) + "\n"


def problems(en_text: str) -> list[str]:
    """What is wrong with the translation files, given the English they should hold."""
    found = []
    en_path = TRANSLATIONS / "en.json"
    if not en_path.exists() or en_path.read_text(encoding="utf-8") != en_text:
        found.append(f"{en_path.relative_to(ROOT)} is out of date: run scripts/translations.py")
    en = _leaves(json.loads(en_text))
    for path in sorted(TRANSLATIONS.glob("*.json")):
        if path.name == "en.json":
            continue
        name = path.relative_to(ROOT)
        other = _leaves(_load(path))
        found += [f"{name}: missing {key}" for key in sorted(en.keys() - other.keys())]
        found += [f"{name}: unknown {key}" for key in sorted(other.keys() - en.keys())]
        for key in sorted(en.keys() & other.keys()):
            text = other[key]
            if not isinstance(text, str) or not text.strip():
                found.append(f"{name}: {key} is empty")
            elif REFERENCE.search(text):
                found.append(
                    f"{name}: {key} holds a [%key:...%] reference (not resolved at run time)"
                )
            elif _placeholders(text) != _placeholders(en[key]):
                found.append(
                    f"{name}: {key} has placeholders {sorted(_placeholders(text))}, "
                    f"English has {sorted(_placeholders(en[key]))}"
                )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; change no file")
    args = parser.parse_args()
    en_text = english()
    if not args.check:
        TRANSLATIONS.mkdir(exist_ok=True)
        (TRANSLATIONS / "en.json").write_text(en_text, encoding="utf-8")
    found = problems(en_text)
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
