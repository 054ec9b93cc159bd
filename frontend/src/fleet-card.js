// The fleet card: one row per device of a bridge with its latest window's statistics as range
// bars (min to max, a tick at the mean), the bridge's connectivity and the broker it uses, and
// the thresholds (the integration's) that are crossed, on their device's row.

import { css, html, nothing } from "lit";
import { LayoutCard, fetchLayout, numeric, pickBridge, stateOf } from "./layout.js";
import { has, number, t } from "./strings.js";

export class FleetCard extends LayoutCard {
  static properties = { ...LayoutCard.properties, _error: { state: true } };

  static getConfigElement() {
    return document.createElement("iot-monitor-fleet-card-editor");
  }

  static async getStubConfig(hass) {
    try {
      const bridge = pickBridge(await fetchLayout(hass));
      return bridge ? { bridge: bridge.id } : {};
    } catch {
      return {};
    }
  }

  setConfig(config) {
    if (config.sensors !== undefined && !Array.isArray(config.sensors)) {
      throw new Error("sensors must be a list of sensor ids");
    }
    this._config = config;
  }

  getCardSize() {
    return 2 + (this._bridge()?.devices.length ?? 4);
  }

  _layoutFailed(message) {
    this._error = message;
  }

  _bridge() {
    return this._layout ? pickBridge(this._layout, this._config?.bridge) : undefined;
  }

  _sensorIds(bridge) {
    if (this._config?.sensors?.length) return this._config.sensors;
    const ids = [];
    for (const device of bridge.devices) {
      for (const sensor of device.sensors) if (!ids.includes(sensor.id)) ids.push(sensor.id);
    }
    return ids;
  }

  _watched() {
    const bridge = this._bridge();
    if (!bridge) return [];
    const ids = [bridge.connectivity, bridge.broker, ...bridge.thresholds.map((th) => th.entity_id)];
    for (const device of bridge.devices) {
      for (const sensor of device.sensors) ids.push(sensor.mean, sensor.min, sensor.max);
    }
    return ids.filter(Boolean);
  }

  render() {
    if (!this.hass || !this._config) return nothing;
    const bridge = this._bridge();
    if (!bridge) {
      const message = this._error ?? t(this.hass, this._layout ? "no_bridge" : "loading");
      return html`<ha-card .header=${this._config.title}><div class="empty">${message}</div></ha-card>`;
    }
    const sensorIds = this._sensorIds(bridge);
    const columns = sensorIds.map((id) => this._column(bridge, id));
    const crossed = bridge.thresholds.filter((th) => stateOf(this.hass, th.entity_id)?.state === "on");
    return html`
      <ha-card>
        <div class="header">
          <div class="title">
            <div class="name">${this._config.title || bridge.name}</div>
            <div class="sub">${t(this.hass, "devices", { count: bridge.devices.length })}</div>
          </div>
          <div class="chips">
            ${crossed.length
              ? html`<div class="chip crossed" title=${crossed.map((th) => th.name).join("\n")}>
                  <ha-icon icon="mdi:alert-circle"></ha-icon>${t(this.hass, "crossed", { count: crossed.length })}
                </div>`
              : nothing}
            ${this._connectivity(bridge)} ${this._broker(bridge)}
          </div>
        </div>
        <div class="table" style="--columns: ${columns.length}">
          <div class="row head">
            <div class="device"></div>
            ${columns.map((column) => html`<div class="cell label">${column.label}</div>`)}
          </div>
          ${bridge.devices.map((device) => this._row(device, columns, crossed))}
        </div>
        <div class="note">${t(this.hass, "window")}</div>
      </ha-card>
    `;
  }

  /** A sensor column: its name, and the fleet's range for it, so the bars compare. */
  _column(bridge, id) {
    let low = Infinity;
    let high = -Infinity;
    let unit = "";
    for (const device of bridge.devices) {
      const sensor = device.sensors.find((s) => s.id === id);
      if (!sensor) continue;
      unit ||= sensor.unit ?? "";
      for (const value of [numeric(this.hass, sensor.min), numeric(this.hass, sensor.max)]) {
        if (value !== undefined) {
          low = Math.min(low, value);
          high = Math.max(high, value);
        }
      }
    }
    // A margin on both ends, so that no tick sits on the edge of its bar.
    const margin = (high - low) * 0.08;
    const key = `sensor_${id}`;
    const name = has(key) ? t(this.hass, key) : id.replace(/_/g, " ");
    return { id, low: low - margin, high: high + margin, label: unit ? `${name} (${unit})` : name };
  }

  _row(device, columns, crossed) {
    const mine = crossed.filter((th) => th.sensor.startsWith(`${device.id}/`));
    const problem = new Set(mine.map((th) => th.sensor.slice(device.id.length + 1)));
    return html`
      <div class="row device-row ${mine.length ? "problem" : ""}" data-device=${device.id}>
        <div class="device" title=${[device.name, ...mine.map((th) => th.name)].join("\n")}>
          ${mine.length ? html`<ha-icon class="alert" icon="mdi:alert-circle"></ha-icon>` : nothing}${device.name}
        </div>
        ${columns.map((column) =>
          this._cell(device.sensors.find((s) => s.id === column.id), column, problem.has(column.id)),
        )}
      </div>
    `;
  }

  _cell(sensor, column, problem) {
    if (!sensor) return html`<div class="cell"></div>`;
    const mean = numeric(this.hass, sensor.mean);
    const min = numeric(this.hass, sensor.min);
    const max = numeric(this.hass, sensor.max);
    const span = column.high - column.low || 1;
    const at = (value) => `${(((value - column.low) / span) * 100).toFixed(1)}%`;
    const digits = this.hass.entities?.[sensor.mean]?.display_precision ?? 1;
    const range = min !== undefined && max !== undefined;
    return html`
      <div class="cell ${problem ? "problem" : ""}" data-sensor=${sensor.id} @click=${() => this._moreInfo(sensor.mean)}>
        <div class="bar">
          ${range
            ? html`<div class="span" style="left: ${at(min)}; width: calc(${at(max)} - ${at(min)})"></div>`
            : nothing}
          ${mean !== undefined ? html`<div class="mean" style="left: ${at(mean)}"></div>` : nothing}
        </div>
        <div class="value">${mean !== undefined ? number(this.hass, mean, digits) : "—"}</div>
      </div>
    `;
  }

  _connectivity(bridge) {
    const state = stateOf(this.hass, bridge.connectivity)?.state;
    const kind = state === "on" ? "online" : state === "off" ? "offline" : "unknown";
    return html`
      <div class="chip ${kind}" @click=${() => this._moreInfo(bridge.connectivity)}>
        <span class="dot"></span>${t(this.hass, kind)}
      </div>
    `;
  }

  _broker(bridge) {
    const broker = stateOf(this.hass, bridge.broker)?.state;
    const shown = broker && broker !== "unknown" && broker !== "unavailable" ? broker : "—";
    return html`
      <div class="chip broker" title=${t(this.hass, "broker")} @click=${() => this._moreInfo(bridge.broker)}>
        <ha-icon icon="mdi:server-network"></ha-icon>${shown}
      </div>
    `;
  }

  _moreInfo(entityId) {
    if (!entityId) return;
    this.dispatchEvent(new CustomEvent("hass-more-info", { detail: { entityId }, bubbles: true, composed: true }));
  }

  static styles = css`
    ha-card {
      padding: 16px;
      box-sizing: border-box;
    }
    .empty {
      padding: 16px;
      color: var(--secondary-text-color);
    }
    .header {
      display: flex;
      align-items: center;
      gap: 8px;
      margin-bottom: 12px;
    }
    .title {
      flex: 1;
      min-width: 6em;
    }
    .chips {
      display: flex;
      flex-wrap: wrap;
      justify-content: flex-end;
      gap: 8px;
    }
    .name {
      font-size: var(--ha-font-size-xl, 20px);
      line-height: 1.3;
    }
    .sub,
    .note {
      color: var(--secondary-text-color);
      font-size: var(--ha-font-size-s, 12px);
    }
    .note {
      margin-top: 8px;
    }
    .chip {
      display: inline-flex;
      align-items: center;
      gap: 6px;
      padding: 4px 10px;
      border-radius: 16px;
      background: var(--secondary-background-color);
      font-size: var(--ha-font-size-s, 13px);
      white-space: nowrap;
      cursor: pointer;
      --mdc-icon-size: 16px;
    }
    .dot {
      width: 8px;
      height: 8px;
      border-radius: 50%;
      background: var(--disabled-text-color, #999);
    }
    .online .dot {
      background: var(--success-color, #43a047);
    }
    .offline .dot {
      background: var(--error-color, #db4437);
    }
    .table {
      display: grid;
      grid-template-columns: minmax(72px, 0.7fr) repeat(var(--columns), minmax(0, 1fr));
      column-gap: 16px;
      row-gap: 6px;
      align-items: center;
    }
    .row {
      display: contents;
    }
    .label {
      color: var(--secondary-text-color);
      font-size: var(--ha-font-size-s, 12px);
    }
    .device {
      display: flex;
      align-items: center;
      overflow: hidden;
      text-overflow: ellipsis;
      white-space: nowrap;
    }
    .cell {
      display: flex;
      align-items: center;
      gap: 8px;
      min-width: 0;
      cursor: pointer;
    }
    .head .cell {
      cursor: default;
    }
    .bar {
      position: relative;
      flex: 1;
      height: 10px;
      border-radius: 5px;
      background: var(--secondary-background-color, #eee);
      min-width: 40px;
    }
    .span {
      position: absolute;
      top: 0;
      bottom: 0;
      min-width: 4px;
      border-radius: 5px;
      background: var(--primary-color);
      opacity: 0.35;
    }
    .mean {
      position: absolute;
      top: -3px;
      width: 3px;
      height: 16px;
      margin-left: -1px;
      border-radius: 2px;
      background: var(--primary-color);
    }
    .crossed {
      color: var(--error-color, #db4437);
    }
    .alert {
      --mdc-icon-size: 18px;
      color: var(--error-color, #db4437);
      margin-inline-end: 4px;
      flex: none;
    }
    .cell.problem .span,
    .cell.problem .mean {
      background: var(--error-color, #db4437);
    }
    .cell.problem .value {
      color: var(--error-color, #db4437);
    }
    .value {
      width: 4.5em;
      text-align: end;
      font-variant-numeric: tabular-nums;
    }
  `;
}
