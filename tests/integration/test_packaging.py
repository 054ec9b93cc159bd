"""What HACS and hassfest check before anyone runs the code: manifest, hacs.json, brand, files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import homeassistant
import pytest
import yaml
from homeassistant.const import __version__ as HA_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_custom_components
from PIL import Image

from custom_components.iot_monitor.const import DESCRIPTION_SUBSCRIPTION, DOMAIN
from iot_monitor_bridge.runtime.announce import SERVICE_TYPE
from scripts import translations

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "custom_components" / DOMAIN
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
