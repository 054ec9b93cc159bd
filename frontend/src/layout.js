// What the cards show, from the integration's `iot_monitor/cards/layout` websocket command:
// each bridge's devices, machines and the ids of their entities. Fetched once per page and
// again when Home Assistant's entity registry changes (a bridge announced a new device).

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
