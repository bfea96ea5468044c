// The doctor's consult queue: watching it puts the doctor on duty. Shows the waiting requests
// (emergencies first), their waiting time counting up from `requested_at`, rings with WebAudio
// beeps on `queue.ring` until the request is accepted or removed, and accepts.

import { SignalClient, elapsed, errorText, loadStrings, translator } from "./signal.js";

const RANK = { emergency: 0, urgent: 1, routine: 2 };

const strings = loadStrings("queue-strings");
const t = translator(strings);
const root = document.getElementById("consult-queue");
const ui = {
  duty: root.querySelector("[data-field=duty]"),
  sound: root.querySelector("[data-action=sound]"),
  message: root.querySelector("[data-field=message]"),
  list: root.querySelector("[data-field=list]"),
  empty: root.querySelector("[data-field=empty]"),
};

// consult_id -> { item, ringing }
const entries = new Map();
// How far the server's clock is ahead of ours (ms), estimated from the items' waiting_seconds.
let serverAhead = 0;

// --- sound ------------------------------------------------------------------------------------

class Ringer {
  constructor() {
    this.ctx = null;
    this.timer = null;
    this.urgent = false;
  }

  context() {
    if (!this.ctx) {
      const AudioContext = window.AudioContext || window.webkitAudioContext;
      if (!AudioContext) return null;
      this.ctx = new AudioContext();
    }
    return this.ctx;
  }

  get blocked() {
    return this.ctx !== null && this.ctx.state !== "running";
  }

  unlock() {
    const ctx = this.context();
    if (ctx && ctx.state !== "running") return ctx.resume().catch(() => {});
    return Promise.resolve();
  }

  start(urgent) {
    this.urgent = urgent;
    const ctx = this.context();
    if (!ctx) return;
    ctx.resume().catch(() => {}).finally(updateSoundButton);
    if (this.timer) return;
    this.beep();
    this.timer = setInterval(() => this.beep(), 2000);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  get ringing() {
    return this.timer !== null;
  }

  beep() {
    const ctx = this.ctx;
    if (!ctx || ctx.state !== "running") {
      updateSoundButton();
      return;
    }
    // Two short tones; an emergency rings higher and three times.
    const tones = this.urgent ? [0, 0.22, 0.44] : [0, 0.3];
    const frequency = this.urgent ? 1046 : 880;
    for (const offset of tones) {
      const start = ctx.currentTime + offset;
      const oscillator = ctx.createOscillator();
      const gain = ctx.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.3, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.18);
      oscillator.connect(gain).connect(ctx.destination);
      oscillator.start(start);
      oscillator.stop(start + 0.2);
    }
    root.dataset.beeps = String(Number(root.dataset.beeps || 0) + 1);
  }
}

const ringer = new Ringer();
window.__queueRinger = ringer; // for tests: whether it rings

function updateSoundButton() {
  ui.sound.hidden = !(ringer.blocked && ringer.ringing);
}

ui.sound.addEventListener("click", () => ringer.unlock().then(updateSoundButton));
document.addEventListener("pointerdown", () => ringer.unlock().then(updateSoundButton), { passive: true });

function updateRinging() {
  const ringing = [...entries.values()].filter((e) => e.ringing);
  if (ringing.length === 0) ringer.stop();
  else ringer.start(ringing.some((e) => e.item.urgency === "emergency"));
  root.dataset.ringing = String(ringing.length > 0);
  updateSoundButton();
}

// --- the list ---------------------------------------------------------------------------------

function showMessage(text) {
  ui.message.textContent = text;
  ui.message.hidden = !text;
}

function learnClock(item) {
  if (typeof item.waiting_seconds !== "number" || !item.requested_at) return;
  const serverNow = Date.parse(item.requested_at) + item.waiting_seconds * 1000;
  serverAhead = serverNow - Date.now();
}

function waitingText(item) {
  return t("queue.waiting", { time: elapsed(Date.parse(item.requested_at), Date.now() + serverAhead) });
}

function upsert(item, ring) {
  if (!item || !item.consult_id) return;
  learnClock(item);
  const entry = entries.get(item.consult_id);
  entries.set(item.consult_id, { item, ringing: ring || Boolean(entry && entry.ringing) });
}

function render() {
  const sorted = [...entries.values()].sort(
    (a, b) =>
      (RANK[a.item.urgency] ?? 3) - (RANK[b.item.urgency] ?? 3) ||
      Date.parse(a.item.requested_at) - Date.parse(b.item.requested_at),
  );
  ui.list.replaceChildren(...sorted.map(renderItem));
  ui.empty.hidden = sorted.length > 0;
  updateRinging();
}

function renderItem({ item, ringing }) {
  const li = document.createElement("li");
  li.className = ringing ? "queue-item ringing" : "queue-item";
  li.dataset.consult = item.consult_id;
  li.dataset.urgency = item.urgency;
  li.dataset.testid = "queue-item";

  const badge = document.createElement("span");
  badge.className = `urgency urgency-${item.urgency}`;
  badge.textContent = t(`consult.urgency.${item.urgency}`);

  const who = document.createElement("div");
  who.className = "who";
  const patient = document.createElement("strong");
  patient.textContent = item.patient ? item.patient.display : "";
  const home = document.createElement("span");
  home.className = "muted";
  home.textContent = item.home ? item.home.display : "";
  const reason = document.createElement("p");
  reason.className = "reason";
  reason.textContent = item.reason || "";
  who.append(patient, " ", home, reason);

  const wait = document.createElement("span");
  wait.className = "wait";
  wait.dataset.field = "wait";
  wait.textContent = waitingText(item);

  const extra = document.createElement("span");
  extra.className = "ring-badge";
  extra.textContent = ringing ? t("queue.ringing") : item.escalation > 0 ? t("queue.escalated") : "";

  const accept = document.createElement("button");
  accept.type = "button";
  accept.className = "primary";
  accept.dataset.action = "accept";
  accept.dataset.testid = "queue-accept";
  accept.textContent = t("queue.accept");
  accept.addEventListener("click", () => acceptConsult(item.consult_id, accept));

  li.append(badge, who, wait, extra, accept);
  return li;
}

function tick() {
  for (const li of ui.list.querySelectorAll("[data-consult]")) {
    const entry = entries.get(li.dataset.consult);
    if (entry) li.querySelector("[data-field=wait]").textContent = waitingText(entry.item);
  }
}
setInterval(tick, 1000);

async function acceptConsult(consultId, button) {
  button.disabled = true;
  showMessage("");
  try {
    await signal.request("consult.accept", { consult_id: consultId });
    entries.delete(consultId);
    render();
    signal.stop();
    window.location.assign(`/consults/${encodeURIComponent(consultId)}/call`);
  } catch (err) {
    button.disabled = false;
    showMessage(errorText(t, strings, err.code));
    if (["already_taken", "consult_ended", "not_found", "invalid_transition"].includes(err.code)) {
      entries.delete(consultId);
      render();
    }
  }
}

// --- signalling -------------------------------------------------------------------------------

const signal = new SignalClient();

signal.on("status", ({ status }) => {
  root.dataset.socket = status;
  const key = { open: "queue.on_duty", stopped: "queue.signed_out" }[status] || "queue.connecting";
  ui.duty.textContent = t(key);
  ui.duty.dataset.status = status;
});

signal.onOpen(async () => {
  try {
    const snapshot = await signal.request("queue.watch");
    const ringing = new Set([...entries.values()].filter((e) => e.ringing).map((e) => e.item.consult_id));
    entries.clear();
    for (const item of snapshot.items || []) {
      // Requests that ring every on-duty doctor (emergencies, escalated ones) ring a doctor who
      // comes on duty too; one that rang this page before a reconnect keeps ringing.
      upsert(item, ringing.has(item.consult_id) || item.urgency === "emergency" || item.escalation > 0);
    }
    render();
  } catch (err) {
    showMessage(errorText(t, strings, err.code));
  }
});

signal.on("queue.ring", (message) => {
  upsert(message.item, true);
  render();
});
signal.on("queue.update", (message) => {
  upsert(message.item, false);
  render();
});
signal.on("queue.removed", (message) => {
  if (entries.delete(message.consult_id)) render();
});

signal.connect();
