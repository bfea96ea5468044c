// Keeps a list of prescriptions current (the nurse's list, the pharmacy desk, a resident's
// prescriptions): listens on the signalling socket for `prescription.changed` (bridge/prescriptions/
// news.py), fetches the list's section again with the page's own session and merges it in.
//
// Items are keyed (data-key) and versioned (data-version): an item whose version did not change is
// kept as it is, so what someone is typing into its form survives a refresh caused by another
// prescription. After a reconnect the list is fetched once in any case: news sent while the socket was
// down is not replayed.

import { SignalClient, loadStrings, translator } from "./signal.js";

const NEWS_SHOWN_MS = 15000;
const NEW_MARK_MS = 60000;

const root = document.getElementById("rx-live");
const t = translator(loadStrings("rx-strings"));

function banner() {
  let node = document.getElementById("rx-news");
  if (!node) {
    node = document.createElement("p");
    node.id = "rx-news";
    node.className = "rx-news";
    node.dataset.testid = "rx-news";
    node.setAttribute("role", "status");
    node.hidden = true;
    document.body.append(node);
  }
  return node;
}

let hideTimer = null;
function announce(text, failed = false) {
  const node = banner();
  node.textContent = text;
  node.classList.toggle("failed", failed);
  node.hidden = false;
  clearTimeout(hideTimer);
  if (!failed) hideTimer = setTimeout(() => (node.hidden = true), NEWS_SHOWN_MS);
}

function merge(html, changedTasks) {
  const template = document.createElement("template");
  template.innerHTML = html;
  const current = new Map();
  for (const node of root.querySelectorAll("[data-key]")) current.set(node.dataset.key, node);
  const next = [...template.content.children].map((fresh) => {
    const old = fresh.dataset.key ? current.get(fresh.dataset.key) : undefined;
    return old && old.dataset.version === fresh.dataset.version ? old : fresh;
  });
  root.replaceChildren(...next);
  for (const node of root.querySelectorAll("[data-task]")) {
    if (changedTasks.has(node.dataset.task)) {
      node.classList.add("is-new");
      setTimeout(() => node.classList.remove("is-new"), NEW_MARK_MS);
    }
  }
}

// One fetch at a time; news arriving meanwhile is merged into one more fetch.
let running = false;
let again = false;
let pending = [];
let refreshes = 0;

async function refresh() {
  if (running) {
    again = true;
    return;
  }
  running = true;
  try {
    do {
      again = false;
      const messages = pending;
      pending = [];
      const response = await fetch(root.dataset.url, {
        headers: { Accept: "text/html" },
        credentials: "same-origin",
        cache: "no-store",
      });
      // A session that ended redirects to the sign-in page: that is no list.
      if (!response.ok || response.redirected) throw new Error(`prescriptions: ${response.status}`);
      merge(await response.text(), new Set(messages.map((m) => m.task_id)));
      refreshes += 1;
      root.dataset.refreshes = String(refreshes);
      const last = messages[messages.length - 1];
      if (last && last.step) announce(t("rx.live.changed", { step: t(`rx.step.${last.step}`) }));
    } while (again);
  } catch (err) {
    console.warn("prescriptions not refreshed", err);
    announce(t("rx.live.failed"), true);
  } finally {
    running = false;
  }
}

function start() {
  if (!root) return;
  const patient = root.dataset.patient;
  const signal = new SignalClient();
  let opened = 0;
  signal.on("prescription.changed", (message) => {
    if (patient && message.patient_id !== patient) return;
    pending.push(message);
    refresh();
  });
  signal.onOpen(() => {
    opened += 1;
    root.dataset.live = "open";
    if (opened > 1) refresh();
  });
  signal.on("status", (message) => {
    if (message.status !== "open") root.dataset.live = message.status;
  });
  signal.connect();
}

start();
