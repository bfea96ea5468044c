// Overdue loop clocks on the supervisor's pages: listens on the signalling socket for `loop.overdue`
// (bridge/loops/overdue.py), shows the item at once from the message, then reads the list again from
// the page (names of organisations, the server's own order). After a reconnect the list is read again,
// so an alert raised while the socket was down is not missed.

import { SignalClient, loadStrings, translator } from "./signal.js";

const root = document.getElementById("loop-overdue");
const t = translator(loadStrings("loop-alert-strings"));
const locale = document.documentElement.lang.startsWith("zh") ? "zh-CN" : "en";
const list = root.querySelector("[data-field=list]");
const empty = root.querySelector("[data-field=empty]");

function known(clockId) {
  return [...list.querySelectorAll("[data-clock]")].some((row) => row.dataset.clock === String(clockId));
}

function localTime(iso) {
  const when = new Date(iso);
  return Number.isNaN(when.getTime())
    ? iso
    : when.toLocaleString(locale, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}

function cell(...children) {
  const td = document.createElement("td");
  td.append(...children);
  return td;
}

// A row from the message alone, until the page's own list replaces it.
function renderAlert(message) {
  const row = document.createElement("tr");
  row.dataset.testid = "loop-overdue-item";
  row.dataset.clock = String(message.clock_id);
  row.dataset.kind = message.clock;
  row.className = "new-alert";
  const clock = t(`loops.clock.${message.clock}`);
  const code = document.createElement("code");
  code.textContent = message.patient_id;
  const link = document.createElement("a");
  link.href = `/loops/timeline?loop=${encodeURIComponent(message.loop)}`;
  link.textContent = t("loops.dashboard.open_timeline");
  const late = cell(t("loops.duration.m", { m: Math.max(0, Math.round((message.overdue_seconds || 0) / 60)) }));
  late.className = "late";
  row.append(
    cell(clock),
    cell(code),
    cell(t(`loops.party.${message.party}`)),
    cell(localTime(message.due_at)),
    late,
    cell(link),
  );
  row.title = t("loops.overdue.news", { clock, due: localTime(message.due_at) });
  return row;
}

function updateEmpty() {
  empty.hidden = list.children.length > 0;
}

async function refreshList(fresh = new Set()) {
  try {
    const response = await fetch(window.location.pathname + window.location.search, {
      headers: { Accept: "text/html" },
      credentials: "same-origin",
    });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const rows = page.querySelector("#loop-overdue [data-field=list]");
    if (!rows) return;
    list.replaceChildren(...rows.children);
    for (const row of list.querySelectorAll("[data-clock]")) {
      if (fresh.has(row.dataset.clock)) row.classList.add("new-alert");
    }
    updateEmpty();
  } catch (err) {
    console.warn("loop alerts: could not refresh the list", err);
  }
}

const signal = new SignalClient();
let opened = 0;
const arrived = new Set();

signal.on("status", ({ status }) => {
  root.dataset.socket = status;
});

signal.onOpen(() => {
  opened += 1;
  if (opened > 1) return refreshList(arrived);
  return undefined;
});

signal.on("loop.overdue", (message) => {
  if (message.clock_id === undefined || known(message.clock_id)) return;
  arrived.add(String(message.clock_id));
  list.prepend(renderAlert(message));
  updateEmpty();
  root.dataset.alerts = String(Number(root.dataset.alerts || 0) + 1);
  refreshList(arrived);
});

updateEmpty();
signal.connect();
