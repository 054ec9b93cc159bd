// What the cards show, from the integration's `iot_monitor/cards/layout` websocket command:
// each bridge's devices, machines and the ids of their entities. Fetched once per page and
// again when Home Assistant's entity registry changes (a bridge announced a new device).

import { LitElement } from "lit";

let cached = null;

/** The layout; `hass.entities` changes identity when the registry does. */
export function fetchLayout(hass) {
  if (!cached || cached.entities !== hass.entities || cached.connection !== hass.connection) {
    const promise = hass.connection.sendMessagePromise({ type: "iot_monitor/cards/layout" });
    cached = { entities: hass.entities, connection: hass.connection, promise };
    promise.catch(() => {
      if (cached?.promise === promise) cached = null;
    });
  }
  return cached.promise;
}

/** The bridge a card's config names, else the first. */
export function pickBridge(layout, id) {
  return layout.bridges.find((bridge) => bridge.id === id) ?? (id ? undefined : layout.bridges[0]);
}

/** The state object of an entity, if it has one. */
export function stateOf(hass, entityId) {
  return entityId ? hass.states[entityId] : undefined;
}

/** A state as a number, or `undefined` for unknown, unavailable or text. */
export function numeric(hass, entityId) {
  const state = stateOf(hass, entityId)?.state;
  if (state === undefined || state === "" || state === "unknown" || state === "unavailable") return undefined;
  const value = Number(state);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * What both cards share: the layout fetched as `hass` changes, and a render only when a
 * watched entity's state object (or the layout, locale or registry) changed. A card names its
 * entities in `_watched()` and shows a failed fetch in `_layoutFailed(message)`.
 */
export class LayoutCard extends LitElement {
  static properties = {
    hass: { attribute: false },
    _config: { state: true },
    _layout: { state: true },
  };

  getGridOptions() {
    return { columns: 12, min_columns: 6, rows: "auto" };
  }

  shouldUpdate(changed) {
    if (changed.size > 1 || !changed.has("hass")) return true;
    const old = changed.get("hass");
    if (!old || old.locale !== this.hass.locale || old.entities !== this.hass.entities) return true;
    return this._watched().some((id) => old.states[id] !== this.hass.states[id]);
  }

  updated(changed) {
    if (changed.has("hass") && this.hass) {
      fetchLayout(this.hass).then(
        (layout) => {
          if (layout !== this._layout) this._layout = layout;
          this._layoutFailed(undefined);
        },
        (err) => this._layoutFailed(err.message ?? String(err)),
      );
    }
  }
}
