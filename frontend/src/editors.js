// The cards' visual editors: Home Assistant's own form (ha-form) with choices from the layout.

import { LitElement, html, nothing } from "lit";
import { fetchLayout } from "./layout.js";
import { has, t } from "./strings.js";

class Editor extends LitElement {
  static properties = {
    hass: { attribute: false },
    _config: { state: true },
    _layout: { state: true },
  };

  setConfig(config) {
    this._config = config;
  }

  updated(changed) {
    if (changed.has("hass") && this.hass && !this._layout) {
      fetchLayout(this.hass).then((layout) => (this._layout = layout));
    }
  }

  render() {
    if (!this.hass || !this._config) return nothing;
    return html`
      <ha-form
        .hass=${this.hass}
        .data=${this._data()}
        .schema=${this._schema(this._layout ?? { bridges: [] })}
        .computeLabel=${(field) => t(this.hass, `editor_${field.name}`)}
        @value-changed=${this._changed}
      ></ha-form>
    `;
  }

  _data() {
    return this._config;
  }

  _changed(ev) {
    const config = { ...this._fromForm(ev.detail.value) };
    for (const [key, value] of Object.entries(config)) {
      if (value === "" || value === undefined || (Array.isArray(value) && !value.length)) delete config[key];
    }
    this._config = config;
    this.dispatchEvent(new CustomEvent("config-changed", { detail: { config }, bubbles: true, composed: true }));
  }

  _fromForm(value) {
    return value;
  }
}

const option = (value, label) => ({ value, label });
const CREDIT_CHOICES = ["500", "1000", "2000", "5000", "10000"];

export class FleetCardEditor extends Editor {
  _sensorName(id) {
    return has(`sensor_${id}`) ? t(this.hass, `sensor_${id}`) : id.replace(/_/g, " ");
  }

  _schema(layout) {
    const bridge = layout.bridges.find((b) => b.id === this._config.bridge) ?? layout.bridges[0];
    const sensors = [...new Set(bridge?.devices.flatMap((d) => d.sensors.map((s) => s.id)) ?? [])];
    return [
      { name: "title", selector: { text: {} } },
      {
        name: "bridge",
        selector: { select: { mode: "dropdown", options: layout.bridges.map((b) => option(b.id, b.name)) } },
      },
      {
        name: "sensors",
        selector: { select: { multiple: true, mode: "list", options: sensors.map((id) => option(id, this._sensorName(id))) } },
      },
    ];
  }
}

export class VendingCardEditor extends Editor {
  _schema(layout) {
    const machines = layout.bridges.flatMap((b) =>
      b.machines.map((m) => option(`${b.id}/${m.id}`, `${m.name} (${b.name})`)),
    );
    return [
      { name: "title", selector: { text: {} } },
      { name: "machine", selector: { select: { mode: "dropdown", options: machines } } },
      {
        name: "credit_amounts",
        selector: { select: { multiple: true, custom_value: true, options: CREDIT_CHOICES } },
      },
      { name: "restock_count", selector: { number: { min: 1, max: 1000000, mode: "box" } } },
      { name: "manage", selector: { boolean: {} } },
    ];
  }

  /** The form edits "bridge/machine" and amounts as text; the config keeps them apart. */
  _data() {
    const { bridge, machine, credit_amounts: amounts, ...rest } = this._config;
    return {
      ...rest,
      machine: bridge && machine ? `${bridge}/${machine}` : undefined,
      credit_amounts: amounts?.map(String),
      manage: this._config.manage !== false,
    };
  }

  _fromForm(value) {
    const { machine, credit_amounts: amounts, manage, ...rest } = value;
    const [bridge, id] = machine ? machine.split("/") : [];
    const parsed = (amounts ?? []).map(Number).filter((n) => Number.isInteger(n) && n > 0);
    return { ...rest, bridge, machine: id, credit_amounts: parsed, manage: manage ? undefined : false };
  }
}
