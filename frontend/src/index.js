// The iot-monitor cards, loaded on every dashboard by the integration (cards.py).

import { FleetCardEditor, VendingCardEditor } from "./editors.js";
import { FleetCard } from "./fleet-card.js";
import { t } from "./strings.js";
import { VendingCard } from "./vending-card.js";

const ELEMENTS = {
  "iot-monitor-fleet-card": FleetCard,
  "iot-monitor-fleet-card-editor": FleetCardEditor,
  "iot-monitor-vending-card": VendingCard,
  "iot-monitor-vending-card-editor": VendingCardEditor,
};

for (const [name, element] of Object.entries(ELEMENTS)) {
  if (!customElements.get(name)) customElements.define(name, element);
}

// The card picker's entries, in the language of the browser (hass is not known yet).
const hass = { language: navigator.language };
window.customCards ??= [];
for (const [type, key] of [
  ["iot-monitor-fleet-card", "fleet"],
  ["iot-monitor-vending-card", "vending"],
]) {
  if (!window.customCards.some((card) => card.type === type)) {
    window.customCards.push({
      type,
      name: t(hass, `${key}_name`),
      description: t(hass, `${key}_description`),
      preview: true,
      documentationURL: "https://github.com/iot-monitor/iot-monitor/blob/main/docs/integration.md#cards",
    });
  }
}
