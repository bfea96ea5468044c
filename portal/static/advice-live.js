// Keeps advice current: the nurse's advice and tasks (/advice) and a resident's advice beside the
// chart. Listens on the signalling socket for `advice.*` news (bridge/advice/news.py), fetches the
// list's section again with the page's own session and merges it in.
//
// Items are keyed (data-key) and versioned (data-version): an unchanged item is kept as it is, so a
// note being typed into a task's form survives a refresh caused by other advice. The list is also
// fetched once a minute, so a task whose due time passes is marked overdue without any news, and once
// after a reconnect (news sent while the socket was down is not replayed).

import { SignalClient, loadStrings, translator } from "./signal.js";

const NEWS_SHOWN_MS = 15000;
const NEW_MARK_MS = 60000;
const OVERDUE_CHECK_MS = 60000;

const root = document.getElementById("advice-live");
const t = translator(loadStrings("advice-strings"));

function banner() {
  let node = document.getElementById("advice-news");
  if (!node) {
    node = document.createElement("p");
    node.id = "advice-news";
    node.className = "advice-news";
    node.dataset.testid = "advice-news";
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

function merge(html, changed) {
  const template = document.createElement("template");
  template.innerHTML = html;
  const current = new Map();
  for (const node of root.querySelectorAll(":scope > [data-key]")) current.set(node.dataset.key, node);
  const next = [...template.content.children].map((fresh) => {
    const old = fresh.dataset.key ? current.get(fresh.dataset.key) : undefined;
    return old && old.dataset.version === fresh.dataset.version ? old : fresh;
  });
  root.replaceChildren(...next);
  for (const node of root.querySelectorAll("[data-advice], [data-task]")) {
    if (changed.has(node.dataset.advice) || changed.has(node.dataset.task)) {
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
      if (!response.ok || response.redirected) throw new Error(`advice: ${response.status}`);
      const changed = new Set(messages.flatMap((m) => [m.communication_id, m.task_id]).filter(Boolean));
      merge(await response.text(), changed);
      refreshes += 1;
      root.dataset.refreshes = String(refreshes);
      const last = messages[messages.length - 1];
      if (last) announce(t(`advice.live.${last.type.replace("advice.", "")}`));
    } while (again);
  } catch (err) {
    console.warn("advice not refreshed", err);
    announce(t("advice.live.failed"), true);
  } finally {
    running = false;
  }
}

function start() {
  if (!root) return;
  const patient = root.dataset.patient;
  const signal = new SignalClient();
  let opened = 0;
  signal.on("*", (message) => {
    if (typeof message.type !== "string" || !message.type.startsWith("advice.")) return;
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
  setInterval(() => {
    if (!document.hidden) refresh();
  }, OVERDUE_CHECK_MS);
}

start();
