// Critical-value alerts (危急值) on the doctor's and the nurse's home pages: listens on the signalling
// socket for `result.critical` (docs/signalling.md), shows the alert at once with a sound, and drops
// it on `result.critical_acknowledged`. Acknowledging is a plain form POST (the server redirects
// back). After a reconnect the list is read again from the page, so an alert raised while the socket
// was down is not missed.

import { SignalClient, loadStrings, translator } from "./signal.js";

const root = document.getElementById("critical-alerts");
const strings = loadStrings("critical-strings");
const t = translator(strings);
const locale = document.documentElement.lang.startsWith("zh") ? "zh-CN" : "en";
const ui = {
  list: root.querySelector("[data-field=list]"),
  empty: root.querySelector("[data-field=empty]"),
  sound: root.querySelector("[data-action=sound]"),
  silence: root.querySelector("[data-action=silence]"),
};
const canAcknowledge = root.dataset.canAcknowledge === "true";

// --- sound: three high tones now, again every 20 s while an alert that arrived live is open -------

class Alarm {
  constructor() {
    this.ctx = null;
    this.timer = null;
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

  start() {
    const ctx = this.context();
    if (ctx) ctx.resume().catch(() => {}).finally(updateButtons);
    if (this.timer) return;
    this.beep();
    this.timer = setInterval(() => this.beep(), 20000);
    updateButtons();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    updateButtons();
  }

  beep() {
    const ctx = this.ctx;
    if (!ctx || ctx.state !== "running") {
      updateButtons();
      return;
    }
    for (const offset of [0, 0.25, 0.5]) {
      const start = ctx.currentTime + offset;
      const oscillator = ctx.createOscillator();
      const gain = ctx.createGain();
      oscillator.type = "square";
      oscillator.frequency.value = 1318;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.25, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.2);
      oscillator.connect(gain).connect(ctx.destination);
      oscillator.start(start);
      oscillator.stop(start + 0.22);
    }
    root.dataset.beeps = String(Number(root.dataset.beeps || 0) + 1);
  }
}

const alarm = new Alarm();
window.__criticalAlarm = alarm; // for tests: whether it sounds
const live = new Set(); // alerts that arrived while the page was open and still sound

function updateButtons() {
  ui.sound.hidden = !(alarm.blocked && alarm.timer);
  ui.silence.hidden = !alarm.timer;
}

ui.sound.addEventListener("click", () => alarm.unlock().then(updateButtons));
ui.silence.addEventListener("click", () => {
  live.clear();
  alarm.stop();
});
document.addEventListener("pointerdown", () => alarm.unlock().then(updateButtons), { passive: true });

// --- the list ---------------------------------------------------------------------------------

function localTimes(scope) {
  for (const time of scope.querySelectorAll("time[datetime]")) {
    const when = new Date(time.dateTime);
    if (!Number.isNaN(when.getTime())) {
      time.textContent = when.toLocaleString(locale, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
    }
  }
}

function findingLine(finding) {
  const name = (finding.name && (finding.name[locale] || finding.name["zh-CN"])) || "";
  const key = finding.flag && finding.limit === finding.flag ? "critical.payload_flag" : "critical.payload";
  return t(key, { name, value: finding.value || "", limit: finding.limit, flag: finding.flag || "" }).replace(/\s+/g, " ").trim();
}

function renderAlert(message) {
  const li = document.createElement("li");
  li.className = "queue-item ringing";
  li.dataset.urgency = "emergency";
  li.dataset.alert = message.communication_id;
  li.dataset.testid = "critical-alert";

  const badge = document.createElement("span");
  badge.className = "urgency urgency-emergency";
  badge.textContent = t("critical.badge");

  const who = document.createElement("div");
  who.className = "who";
  const strong = document.createElement("strong");
  const link = document.createElement("a");
  link.href = `/residents/${encodeURIComponent(message.patient_id)}`;
  link.textContent = (message.patient && message.patient.display) || message.patient_id;
  strong.append(link);
  who.append(strong);
  for (const finding of message.findings || []) {
    const p = document.createElement("p");
    p.className = "reason";
    p.textContent = findingLine(finding);
    who.append(p);
  }

  const wait = document.createElement("span");
  wait.className = "wait";
  const time = document.createElement("time");
  time.dateTime = message.at;
  wait.append(time);
  localTimes(wait);

  li.append(badge, who, wait);
  if (canAcknowledge) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = `/results/alerts/${encodeURIComponent(message.communication_id)}/acknowledge`;
    for (const [name, value] of [["csrf_token", root.dataset.csrf], ["next", root.dataset.next]]) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.append(input);
    }
    const button = document.createElement("button");
    button.type = "submit";
    button.className = "primary";
    button.dataset.testid = "critical-acknowledge";
    button.textContent = t("critical.acknowledge");
    form.append(button);
    li.append(form);
  }
  return li;
}

function updateEmpty() {
  ui.empty.hidden = ui.list.children.length > 0;
}

function removeAlert(id) {
  for (const li of ui.list.querySelectorAll("[data-alert]")) {
    if (li.dataset.alert === id) li.remove();
  }
  live.delete(id);
  if (live.size === 0) alarm.stop();
  updateEmpty();
}

function known(id) {
  return [...ui.list.querySelectorAll("[data-alert]")].some((li) => li.dataset.alert === id);
}

// The server-rendered list again (a fresh copy of this page), after the socket was down for a while.
async function refreshList() {
  try {
    const response = await fetch(window.location.pathname, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.querySelector("#critical-alerts [data-field=list]");
    if (!fresh) return;
    const before = new Set([...ui.list.querySelectorAll("[data-alert]")].map((li) => li.dataset.alert));
    ui.list.replaceChildren(...fresh.children);
    localTimes(ui.list);
    for (const li of ui.list.querySelectorAll("[data-alert]")) {
      if (!before.has(li.dataset.alert)) {
        li.classList.add("ringing");
        live.add(li.dataset.alert);
      }
    }
    for (const id of [...live]) if (!known(id)) live.delete(id);
    if (live.size > 0) alarm.start();
    else alarm.stop();
    updateEmpty();
  } catch (err) {
    console.warn("critical alerts: could not refresh the list", err);
  }
}

// --- signalling -------------------------------------------------------------------------------

const signal = new SignalClient();
let opened = 0;

signal.on("status", ({ status }) => {
  root.dataset.socket = status;
});

signal.onOpen(() => {
  opened += 1;
  if (opened > 1) return refreshList();
  return undefined;
});

signal.on("result.critical", (message) => {
  if (!message.communication_id || known(message.communication_id)) return;
  ui.list.append(renderAlert(message));
  live.add(message.communication_id);
  updateEmpty();
  alarm.start();
});

signal.on("result.critical_acknowledged", (message) => {
  if (message.communication_id) removeAlert(message.communication_id);
});

localTimes(ui.list);
updateEmpty();
signal.connect();
