"""What HACS and hassfest check before anyone runs the code: manifest, hacs.json, brand, files;
and that the bridge's wheel carries the integration's contract, byte for byte."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import homeassistant
import pytest
import yaml
from homeassistant.const import __version__ as HA_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_custom_components
from packaging.requirements import Requirement
from PIL import Image

from custom_components.iot_monitor.const import DOMAIN
from custom_components.iot_monitor.contract.topics import DESCRIPTION_SUBSCRIPTION
from iot_monitor_bridge.runtime.announce import SERVICE_TYPE
from scripts import translations

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "custom_components" / DOMAIN
CONTRACT = INTEGRATION / "contract"
BRIDGE = ROOT / "bridge"
HA_COMPONENTS = Path(homeassistant.__file__).parent / "components"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_manifest_keys_are_in_hassfest_order_and_allowed() -> None:
    manifest = load_json(INTEGRATION / "manifest.json")
    keys = list(manifest)

    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    allowed = {
        "domain", "name", "integration_type", "config_flow", "mqtt", "zeroconf", "ssdp",
        "bluetooth", "homekit", "dhcp", "usb", "documentation", "quality_scale",
        "requirements", "dependencies", "after_dependencies", "codeowners", "loggers",
        "disabled", "iot_class", "single_config_entry", "preview_features", "version",
        "issue_tracker", "import_executor",
    }  # fmt: skip
    assert set(keys) <= allowed
    assert manifest["domain"] == INTEGRATION.name
    assert manifest["mqtt"] == [DESCRIPTION_SUBSCRIPTION]
    assert manifest["zeroconf"] == [SERVICE_TYPE]  # what the bridge announces
    assert not manifest["documentation"].startswith("https://www.home-assistant.io/integrations")


def test_hacs_json_uses_only_keys_hacs_accepts() -> None:
    hacs = load_json(ROOT / "hacs.json")

    assert set(hacs) <= {
        "content_in_root", "country", "filename", "hacs", "hide_default_branch",
        "homeassistant", "persistent_directory", "render_readme", "zip_release", "name",
    }  # fmt: skip
    assert hacs["homeassistant"] == HA_VERSION  # the version these tests run on


def test_quality_scale_lists_every_current_rule() -> None:
    """Every core integration's file lists the full rule set of the installed version."""
    rules: set[str] = set()
    for path in HA_COMPONENTS.glob("*/quality_scale.yaml"):
        rules |= set(yaml.safe_load(path.read_text(encoding="utf-8"))["rules"])
    ours = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text(encoding="utf-8"))

    assert len(rules) > 50
    assert set(ours["rules"]) == rules
    for rule, value in ours["rules"].items():
        if isinstance(value, dict):
            assert value["status"] in {"done", "todo", "exempt"}, rule
            assert value["comment"].strip(), rule
        else:
            assert value in {"done", "todo"}, rule


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("icon", (256, 256)),
        ("icon@2x", (512, 512)),
        ("dark_icon", (256, 256)),
        ("dark_icon@2x", (512, 512)),
    ],
)
def test_brand_icons_have_the_sizes_home_assistant_expects(
    name: str, size: tuple[int, int]
) -> None:
    with Image.open(INTEGRATION / "brand" / f"{name}.png") as image:
        assert image.format == "PNG"
        assert image.size == size
        assert image.mode == "RGBA"


@pytest.mark.parametrize(
    ("name", "height"), [("logo", 128), ("logo@2x", 256), ("dark_logo", 128), ("dark_logo@2x", 256)]
)
def test_brand_logos_have_the_sizes_home_assistant_expects(name: str, height: int) -> None:
    with Image.open(INTEGRATION / "brand" / f"{name}.png") as image:
        assert image.format == "PNG"
        assert image.height == height  # the shortest side of a landscape logo
        assert image.width > image.height
        assert image.getbbox() == (0, 0, *image.size)  # trimmed


async def test_home_assistant_loads_the_integration_with_its_brand(hass: HomeAssistant) -> None:
    integration = (await async_get_custom_components(hass))[DOMAIN]

    assert integration.has_branding
    assert str(integration.version) == load_json(INTEGRATION / "manifest.json")["version"]
    assert integration.config_flow


def test_translations_are_complete() -> None:
    assert translations.problems(translations.english()) == []


# The contract: one source, installed twice


def contract_files() -> dict[str, bytes]:
    """The integration's contract package as HACS installs it, by file name."""
    return {
        path.relative_to(CONTRACT).as_posix(): path.read_bytes()
        for path in sorted(CONTRACT.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def bridge_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bridge's wheel, built as the Pi's installer builds it (pip, the bridge's backend)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(BRIDGE)],
        check=True,
        timeout=300,
    )
    (wheel,) = out.glob("iot_monitor_bridge-*.whl")
    return wheel


def test_the_bridge_s_wheel_carries_the_contract_byte_for_byte(bridge_wheel: Path) -> None:
    prefix = "iot_monitor_bridge/contract/"
    with zipfile.ZipFile(bridge_wheel) as wheel:
        packed = {
            name.removeprefix(prefix): wheel.read(name)
            for name in wheel.namelist()
            if name.startswith(prefix) and not name.endswith("/")
        }
        (metadata_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = wheel.read(metadata_name)

    ours = contract_files()
    assert sorted(packed) == sorted(ours)  # the same files, none missing or extra
    assert {"__init__.py", "description.py", "readings.py", "topics.py", "ids.py"} <= set(ours)
    for name, content in ours.items():
        assert packed[name] == content, name
    # The contract needs msgspec on the Pi too.
    requirements = [
        Requirement(line.split(":", 1)[1].strip())
        for line in metadata.decode().splitlines()
        if line.startswith("Requires-Dist:")
    ]
    assert "msgspec" in {requirement.name for requirement in requirements}


def test_the_bridge_imports_the_contract_through_its_link() -> None:
    """In the source tree too: ``iot_monitor_bridge.contract`` is this very folder."""
    link = BRIDGE / "src" / "iot_monitor_bridge" / "contract"
    assert link.is_symlink()
    assert link.resolve() == CONTRACT.resolve()


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(level, module)`` of every import in a file, wherever it is (functions included)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_the_contract_imports_only_the_standard_library_and_msgspec() -> None:
    """So it runs on the Pi without Home Assistant, and in Home Assistant without the bridge;
    relative imports only inside, so both import paths work."""
    modules = {path.stem for path in CONTRACT.glob("*.py")} - {"__init__"}
    checked = 0
    for path in sorted(CONTRACT.glob("*.py")):
        for level, module in _imports(path):
            checked += 1
            if level:
                assert level == 1, (path.name, module)  # never out of the package
                assert module == "" or module.split(".")[0] in modules, (path.name, module)
            else:
                top = module.split(".")[0]
                assert top in sys.stdlib_module_names or top == "msgspec", (path.name, module)
    assert checked > 10


def test_msgspec_is_the_same_for_home_assistant_and_the_bridge() -> None:
    """The manifest pins what HACS installs; the bridge's range allows it, and it is tested."""
    manifest = load_json(INTEGRATION / "manifest.json")
    (pinned,) = [Requirement(r) for r in manifest["requirements"] if r.startswith("msgspec")]
    bridge_project = tomllib.loads((BRIDGE / "pyproject.toml").read_text(encoding="utf-8"))
    (ranged,) = [
        Requirement(r) for r in bridge_project["project"]["dependencies"] if r.startswith("msgspec")
    ]

    (spec,) = pinned.specifier
    assert spec.operator == "=="
    assert ranged.specifier.contains(spec.version)
    assert version("msgspec") == spec.version
