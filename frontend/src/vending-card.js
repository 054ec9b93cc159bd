// The vending card: a bridge's vending machine with its state, credit, and products with price
// and stock. Its buttons call the integration's actions (fire_event, restock, set_price); what
// they change comes back as the machine's entities change, so the card shows the bridge's truth.

import { css, html, nothing } from "lit";
import { LayoutCard, fetchLayout, numeric, pickBridge, stateOf } from "./layout.js";
import { has, number, t } from "./strings.js";

const DEFAULT_CREDIT = [1000, 5000];
const DEFAULT_RESTOCK = 10;
const BUSY = new Set(["dispensing"]);
const TROUBLE = new Set(["out_of_stock", "out_of_service", "needs_attention"]);

export class VendingCard extends LayoutCard {
  static properties = {
    ...LayoutCard.properties,
    _selected: { state: true },
    _managing: { state: true },
    _message: { state: true },
    _pending: { state: true },
  };

  static getConfigElement() {
    return document.createElement("iot-monitor-vending-card-editor");
  }

  static async getStubConfig(hass) {
    try {
      const layout = await fetchLayout(hass);
      const bridge = layout.bridges.find((b) => b.machines.length);
      return bridge ? { bridge: bridge.id, machine: bridge.machines[0].id } : {};
    } catch {
      return {};
    }
  }

  setConfig(config) {
    const amounts = config.credit_amounts;
    if (amounts !== undefined && (!Array.isArray(amounts) || !amounts.every((a) => Number.isInteger(a) && a > 0))) {
      throw new Error("credit_amounts must be a list of positive whole amounts");
    }
    this._config = config;
  }

  getCardSize() {
    return 3 + (this._machine()?.machine.products.length ?? 3);
  }

  _layoutFailed(message) {
    if (message !== undefined) this._message = { error: true, text: message };
  }

  updated(changed) {
    super.updated(changed);
    // A selection ends when the machine leaves awaiting_payment (paid, cancelled, timed out).
    const state = this._state();
    if (this._lastState === "awaiting_payment" && state !== "awaiting_payment") this._selected = undefined;
    this._lastState = state;
  }

  /** The configured machine (else the first) with its bridge. */
  _machine() {
    if (!this._layout) return undefined;
    const bridges = this._config?.bridge
      ? [pickBridge(this._layout, this._config.bridge)].filter(Boolean)
      : this._layout.bridges;
    for (const bridge of bridges) {
      const machine = bridge.machines.find((m) => !this._config?.machine || m.id === this._config.machine);
      if (machine) return { bridge, machine };
    }
    return undefined;
  }

  _watched() {
    const found = this._machine();
    if (!found) return [];
    const { machine } = found;
    return [machine.state, machine.credit, ...machine.products.flatMap((p) => [p.stock, p.price])].filter(Boolean);
  }

  _state() {
    const found = this._machine();
    return found ? stateOf(this.hass, found.machine.state)?.state : undefined;
  }

  async _call(service, data, done) {
    const { bridge, machine } = this._machine();
    this._pending = service;
    this._message = undefined;
    try {
      const fields = { config_entry_id: bridge.entry_id, machine: machine.id, ...data };
      // The card shows a failure itself, under its buttons: no toast as well.
      await this.hass.callService("iot_monitor", service, fields, undefined, false);
      done?.();
    } catch (err) {
      this._message = { error: true, text: t(this.hass, "failed", { message: err.message ?? String(err) }) };
    } finally {
      this._pending = undefined;
    }
  }

  _fire(event, data, done) {
    return this._call("fire_event", data ? { event, data } : { event }, done);
  }

  render() {
    if (!this.hass || !this._config) return nothing;
    const found = this._machine();
    if (!found) {
      const key = !this._layout ? "loading" : this._layout.bridges.length ? "no_machine" : "no_bridge";
      return html`<ha-card .header=${this._config.title}><div class="empty">${t(this.hass, key)}</div></ha-card>`;
    }
    const { machine } = found;
    const state = this._state();
    const credit = numeric(this.hass, machine.credit);
    const unit = stateOf(this.hass, machine.credit)?.attributes.unit_of_measurement ?? "";
    const money = (value) => (value === undefined ? "—" : `${number(this.hass, value)} ${unit}`.trim());
    const stateKey = `state_${state}`;
    const kind = BUSY.has(state) ? "busy" : TROUBLE.has(state) ? "trouble" : state === "idle" ? "ok" : "waiting";
    const buying = state === "idle" || state === "awaiting_payment";
    const manage = this._managing && this._config.manage !== false && this.hass.user?.is_admin;
    const amounts = this._config.credit_amounts ?? DEFAULT_CREDIT;
    return html`
      <ha-card>
        <div class="header">
          <div class="name">${this._config.title || machine.name}</div>
          <div class="state ${kind}" data-state=${state ?? ""}>
            ${state === undefined ? "—" : has(stateKey) ? t(this.hass, stateKey) : state}
          </div>
        </div>
        <div class="credit">
          <div class="label">${t(this.hass, "credit")}</div>
          <div class="amount" data-credit=${credit ?? ""}>${money(credit)}</div>
          <div class="credit-buttons">
            ${amounts.map(
              (amount) => html`
                <button
                  class="credit-button"
                  ?disabled=${!buying || !!this._pending}
                  @click=${() => this._fire("credit", { amount })}
                >
                  ${t(this.hass, "add_credit", { amount: number(this.hass, amount) })}
                </button>
              `,
            )}
          </div>
        </div>
        <div class="products">
          ${machine.products.map((product) => this._product(product, buying, manage, money))}
        </div>
        <div class="actions">
          <button
            class="pay primary"
            ?disabled=${state !== "awaiting_payment" || !!this._pending}
            @click=${() => this._fire("pay")}
          >
            ${t(this.hass, "pay")}
          </button>
          <button
            class="cancel"
            ?disabled=${!buying || !!this._pending}
            @click=${() => this._fire("cancel", undefined, () => (this._selected = undefined))}
          >
            ${t(this.hass, "cancel")}
          </button>
          <span class="spacer"></span>
          ${this._config.manage !== false && this.hass.user?.is_admin
            ? html`<button class="manage flat" @click=${() => (this._managing = !this._managing)}>
                ${t(this.hass, this._managing ? "done" : "manage")}
              </button>`
            : nothing}
        </div>
        ${this._message
          ? html`<div class="message ${this._message.error ? "error" : ""}">${this._message.text}</div>`
          : nothing}
      </ha-card>
    `;
  }

  _product(product, buying, manage, money) {
    const stock = numeric(this.hass, product.stock);
    const price = numeric(this.hass, product.price);
    const selected = this._selected === product.slot;
    const count = this._config.restock_count ?? DEFAULT_RESTOCK;
    return html`
      <div class="product ${selected ? "selected" : ""} ${stock === 0 ? "empty" : ""}" data-slot=${product.slot}>
        <div class="product-name">${product.name}</div>
        <div class="price" data-price=${price ?? ""}>${money(price)}</div>
        <div class="stock" data-stock=${stock ?? ""}>
          ${stock === undefined ? "—" : stock === 0 ? t(this.hass, "sold_out") : t(this.hass, "left", { count: number(this.hass, stock) })}
        </div>
        <button
          class="select ${selected ? "primary" : ""}"
          ?disabled=${!buying || !stock || !!this._pending}
          @click=${() => this._fire("select", { slot: product.slot }, () => (this._selected = product.slot))}
        >
          ${t(this.hass, selected ? "selected" : "select")}
        </button>
        ${manage
          ? html`
              <div class="manage-controls">
                <button
                  class="restock flat"
                  ?disabled=${!!this._pending}
                  @click=${() => this._call("restock", { slot: product.slot, count })}
                >
                  ${t(this.hass, "restock", { count })}
                </button>
                <div class="price-edit">
                  <input
                    type="number"
                    min="1"
                    step="1"
                    aria-label=${t(this.hass, "price")}
                    .value=${price === undefined ? "" : String(price)}
                  />
                  <button class="set-price flat" ?disabled=${!!this._pending} @click=${(ev) => this._setPrice(ev, product)}>
                    ${t(this.hass, "set_price")}
                  </button>
                </div>
              </div>
            `
          : nothing}
      </div>
    `;
  }

  _setPrice(ev, product) {
    const input = ev.target.parentElement.querySelector("input");
    const price = Number(input.value);
    if (!Number.isInteger(price) || price < 1) {
      input.reportValidity();
      return;
    }
    this._call("set_price", { slot: product.slot, price });
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
    }
    .name {
      flex: 1;
      font-size: var(--ha-font-size-xl, 20px);
    }
    .state {
      padding: 4px 12px;
      border-radius: 16px;
      font-size: var(--ha-font-size-s, 13px);
      font-weight: 500;
      color: var(--text-primary-color, #fff);
      background: var(--warning-color, #ffa600);
    }
    .state.ok {
      background: var(--success-color, #43a047);
    }
    .state.busy {
      background: var(--info-color, #039be5);
    }
    .state.trouble {
      background: var(--error-color, #db4437);
    }
    .credit {
      display: flex;
      flex-wrap: wrap;
      align-items: baseline;
      gap: 8px 12px;
      margin: 16px 0;
    }
    .credit .label {
      color: var(--secondary-text-color);
    }
    .amount {
      font-size: 28px;
      font-variant-numeric: tabular-nums;
    }
    .credit-buttons {
      margin-inline-start: auto;
      display: flex;
      gap: 8px;
    }
    .products {
      display: grid;
      grid-template-columns: repeat(auto-fill, minmax(140px, 1fr));
      gap: 12px;
    }
    .product {
      display: flex;
      flex-direction: column;
      gap: 4px;
      padding: 12px;
      border: 1px solid var(--divider-color);
      border-radius: var(--ha-card-border-radius, 12px);
    }
    .product.selected {
      border-color: var(--primary-color);
      box-shadow: 0 0 0 1px var(--primary-color);
    }
    .product.empty .product-name,
    .product.empty .price {
      color: var(--disabled-text-color);
    }
    .product-name {
      font-weight: 500;
    }
    .price {
      font-size: var(--ha-font-size-l, 16px);
      font-variant-numeric: tabular-nums;
    }
    .stock {
      color: var(--secondary-text-color);
      font-size: var(--ha-font-size-s, 13px);
      margin-bottom: 4px;
    }
    .product .select {
      margin-top: auto;
    }
    .actions {
      display: flex;
      align-items: center;
      gap: 8px;
      margin-top: 16px;
    }
    .spacer {
      flex: 1;
    }
    button {
      font: inherit;
      font-size: var(--ha-font-size-m, 14px);
      font-weight: 500;
      padding: 8px 16px;
      border-radius: 18px;
      border: 1px solid var(--primary-color);
      background: transparent;
      color: var(--primary-color);
      cursor: pointer;
    }
    button.primary {
      background: var(--primary-color);
      color: var(--text-primary-color, #fff);
    }
    button.flat {
      border-color: transparent;
    }
    button:disabled {
      cursor: default;
      border-color: var(--divider-color);
      color: var(--disabled-text-color);
      background: transparent;
    }
    .manage-controls {
      display: flex;
      flex-direction: column;
      gap: 4px;
      margin-top: 4px;
      padding-top: 8px;
      border-top: 1px solid var(--divider-color);
    }
    .price-edit {
      display: flex;
      flex-direction: column;
      gap: 4px;
    }
    .price-edit input {
      box-sizing: border-box;
      width: 100%;
      font: inherit;
      padding: 4px 8px;
      border-radius: 8px;
      border: 1px solid var(--divider-color);
      background: var(--card-background-color);
      color: var(--primary-text-color);
    }
    .manage-controls button {
      padding: 6px 8px;
    }
    .message {
      margin-top: 12px;
      color: var(--secondary-text-color);
    }
    .message.error {
      color: var(--error-color, #db4437);
    }
  `;
}
