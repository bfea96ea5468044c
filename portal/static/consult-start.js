// The resident page's consult card: fills in the home's bedside stations (a nurse may start the
// consult on one; a doctor calls one for a ward round) and lets a nurse arm a station to answer
// ward-round calls by itself (`station.arm` over the signalling socket).

import { SignalClient, errorText, loadStrings, translator } from "./signal.js";

const root = document.getElementById("consult-start");
const strings = loadStrings("station-strings");
const t = translator(strings);
const $ = (selector) => root.querySelector(selector);
const stations = new Map();
let canArm = false;
let signal = null;

function label(station) {
  return t("consult.stations.where", { room: station.room || "", bed: station.bed || "" }).trim() || station.station_id;
}

function showMessage(text) {
  const box = $("[data-field=station-message]");
  box.textContent = text;
  box.hidden = !text;
}

function fillSelect() {
  const select = root.querySelector("select[name=station]");
  if (!select) return;
  for (const option of [...select.options]) if (option.value) option.remove();
  for (const station of stations.values()) {
    const option = document.createElement("option");
    option.value = station.station_id;
    option.textContent = label(station);
    select.append(option);
  }
  const choice = $("[data-field=station-choice]");
  if (choice) choice.hidden = stations.size === 0;
  const wardRound = $("[data-field=ward-round]");
  if (wardRound) wardRound.hidden = stations.size === 0;
  const none = $("[data-field=no-stations]");
  if (none) none.hidden = stations.size > 0;
}

function renderList() {
  const list = $("[data-field=station-list]");
  $("[data-field=stations]").hidden = stations.size === 0;
  list.replaceChildren(
    ...[...stations.values()].map((station) => {
      const li = document.createElement("li");
      li.dataset.station = station.station_id;
      li.dataset.testid = "station";
      const name = document.createElement("strong");
      name.textContent = label(station);
      const state = document.createElement("span");
      state.className = station.armed ? "armed" : "muted";
      state.textContent = t(station.armed ? "consult.stations.armed" : "consult.stations.disarmed");
      li.append(name, state);
      if (!station.auto_answer) {
        const note = document.createElement("span");
        note.className = "muted";
        note.textContent = t("consult.stations.auto_answer_off");
        li.append(note);
      } else if (canArm) {
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.testid = "station-arm";
        button.textContent = t(station.armed ? "consult.stations.disarm" : "consult.stations.arm");
        button.addEventListener("click", () => arm(station.station_id, !station.armed, button));
        li.append(button);
      }
      return li;
    }),
  );
}

function openSignal() {
  if (signal) return signal;
  signal = new SignalClient();
  signal.on("station.registered", (message) => {
    const known = stations.get(message.station_id);
    if (!known) return;
    stations.set(message.station_id, { ...known, armed: message.armed, auto_answer: message.auto_answer });
    renderList();
  });
  const opened = new Promise((resolve) => signal.onOpen(resolve));
  signal.ready = opened;
  signal.connect();
  return signal;
}

async function arm(stationId, armed, button) {
  button.disabled = true;
  showMessage("");
  const client = openSignal();
  try {
    await client.ready;
    await client.request("station.arm", { station_id: stationId, armed });
  } catch (err) {
    showMessage(errorText(t, strings, err.code));
  } finally {
    button.disabled = false;
  }
}

async function load() {
  const response = await fetch(`/consults/stations?patient=${encodeURIComponent(root.dataset.patient)}`, {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  });
  if (!response.ok) return;
  const body = await response.json();
  canArm = Boolean(body.can_arm);
  for (const station of body.stations || []) stations.set(station.station_id, station);
  fillSelect();
  renderList();
}

load().catch((err) => console.warn("stations:", err));
