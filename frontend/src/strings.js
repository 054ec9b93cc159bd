// The cards' strings, in the integration's languages (English and Bahasa Indonesia).

const STRINGS = {
  en: {
    fleet_name: "iot-monitor fleet",
    fleet_description: "One row per device of a bridge: the latest window's mean, min and max, the bridge's connectivity and broker.",
    vending_name: "iot-monitor vending machine",
    vending_description: "A bridge's vending machine: state, credit, products with price and stock, and buttons that act on it.",
    loading: "Loading…",
    no_bridge: "No iot-monitor bridge is set up.",
    no_machine: "This bridge has no vending machine.",
    online: "Online",
    offline: "Offline",
    unknown: "Unknown",
    broker: "Broker",
    crossed: "Thresholds crossed: {count}",
    devices: "{count} devices",
    window: "Latest window: mean, and the range from min to max",
    credit: "Credit",
    price: "Price",
    stock: "Stock",
    left: "{count} left",
    sold_out: "Sold out",
    select: "Select",
    selected: "Selected",
    pay: "Pay",
    cancel: "Cancel",
    add_credit: "+ {amount}",
    manage: "Manage",
    restock: "Restock +{count}",
    set_price: "Set price",
    done: "Done",
    failed: "Failed: {message}",
    sensor_temperature: "Temperature",
    sensor_humidity: "Humidity",
    sensor_battery: "Battery",
    state_idle: "Idle",
    state_awaiting_payment: "Awaiting payment",
    state_dispensing: "Dispensing",
    state_out_of_stock: "Out of stock",
    state_out_of_service: "Out of service",
    state_needs_attention: "Needs attention",
    editor_title: "Title (optional)",
    editor_bridge: "Bridge",
    editor_sensors: "Sensors (all when empty)",
    editor_machine: "Vending machine",
    editor_credit_amounts: "Credit buttons (amounts in the smallest unit)",
    editor_restock_count: "Restock by",
    editor_manage: "Show restock and price controls (administrators)",
  },
  id: {
    fleet_name: "Armada iot-monitor",
    fleet_description: "Satu baris per perangkat bridge: rata-rata, minimum dan maksimum jendela terakhir, konektivitas dan broker bridge.",
    vending_name: "Mesin penjual iot-monitor",
    vending_description: "Mesin penjual sebuah bridge: status, kredit, produk dengan harga dan stok, serta tombol untuk mengendalikannya.",
    loading: "Memuat…",
    no_bridge: "Belum ada bridge iot-monitor yang disiapkan.",
    no_machine: "Bridge ini tidak memiliki mesin penjual.",
    online: "Daring",
    offline: "Luring",
    unknown: "Tidak diketahui",
    broker: "Broker",
    crossed: "Ambang terlampaui: {count}",
    devices: "{count} perangkat",
    window: "Jendela terakhir: rata-rata, dan rentang dari minimum ke maksimum",
    credit: "Kredit",
    price: "Harga",
    stock: "Stok",
    left: "sisa {count}",
    sold_out: "Habis",
    select: "Pilih",
    selected: "Dipilih",
    pay: "Bayar",
    cancel: "Batal",
    add_credit: "+ {amount}",
    manage: "Kelola",
    restock: "Isi ulang +{count}",
    set_price: "Ubah harga",
    done: "Selesai",
    failed: "Gagal: {message}",
    sensor_temperature: "Suhu",
    sensor_humidity: "Kelembapan",
    sensor_battery: "Baterai",
    state_idle: "Siaga",
    state_awaiting_payment: "Menunggu pembayaran",
    state_dispensing: "Mengeluarkan produk",
    state_out_of_stock: "Stok habis",
    state_out_of_service: "Tidak beroperasi",
    state_needs_attention: "Perlu perhatian",
    editor_title: "Judul (opsional)",
    editor_bridge: "Bridge",
    editor_sensors: "Sensor (semua jika kosong)",
    editor_machine: "Mesin penjual",
    editor_credit_amounts: "Tombol kredit (jumlah dalam satuan terkecil)",
    editor_restock_count: "Isi ulang sebanyak",
    editor_manage: "Tampilkan kontrol isi ulang dan harga (administrator)",
  },
};

/** The language of the user's Home Assistant if the cards speak it, else English. */
export function language(hass) {
  const lang = (hass?.locale?.language || hass?.language || "en").split("-")[0];
  return lang in STRINGS ? lang : "en";
}

/** The string `key` in the user's language, with `{name}` placeholders filled from `vars`. */
export function t(hass, key, vars = {}) {
  const text = STRINGS[language(hass)][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** Whether the string `key` exists, e.g. a state's name. */
export function has(key) {
  return key in STRINGS.en;
}

/** A number as Home Assistant shows it in the user's locale. */
export function number(hass, value, digits) {
  const options = digits === undefined ? {} : { minimumFractionDigits: digits, maximumFractionDigits: digits };
  try {
    return new Intl.NumberFormat(hass?.locale?.language || hass?.language || "en", options).format(value);
  } catch {
    return String(value);
  }
}
