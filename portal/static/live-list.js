// A list kept current from the signalling socket: on news it accepts, the list's section is fetched
// again with the page's own session and merged in (prescriptions-live.js, advice-live.js).
//
// Items are keyed (data-key) and versioned (data-version): an item whose version did not change is
// kept as it is, so what someone is typing into its form survives a refresh caused by other news.
// After a reconnect the list is fetched once in any case: news sent while the socket was down is not
// replayed. A banner (role=status) says what changed, or that the list could not be read.

import { SignalClient } from "./signal.js";

const NEWS_SHOWN_MS = 15000;
const NEW_MARK_MS = 60000;

function banner(name) {
  let node = document.getElementById(`${name}-news`);
  if (!node) {
    node = document.createElement("p");
    node.id = `${name}-news`;
    node.className = `live-news ${name}-news`;
    node.dataset.testid = `${name}-news`;
    node.setAttribute("role", "status");
    node.hidden = true;
    document.body.append(node);
  }
  return node;
}

// options: name (banner id prefix), root (the list's element, data-url = its section),
//   accepts(message) -> bool, changed(messages) -> Set of ids, marked (selector of items whose
//   data-id attribute `markedBy` names them), news(lastMessage) -> text or null, failed (text),
//   everyMs (also refresh on a timer; 0 = never).
export function keepListCurrent(options) {
  const { name, root, accepts, changed, marked, markedBy, news, failed, everyMs = 0 } = options;
  if (!root) return;
  let hideTimer = null;

  function announce(text, isFailure = false) {
    const node = banner(name);
    node.textContent = text;
    node.classList.toggle("failed", isFailure);
    node.hidden = false;
    clearTimeout(hideTimer);
    if (!isFailure) hideTimer = setTimeout(() => (node.hidden = true), NEWS_SHOWN_MS);
  }

  function merge(html, changedIds) {
    const template = document.createElement("template");
    template.innerHTML = html;
    const current = new Map();
    for (const node of root.querySelectorAll(":scope > [data-key]")) current.set(node.dataset.key, node);
    const next = [...template.content.children].map((fresh) => {
      const old = fresh.dataset.key ? current.get(fresh.dataset.key) : undefined;
      return old && old.dataset.version === fresh.dataset.version ? old : fresh;
    });
    root.replaceChildren(...next);
    for (const node of root.querySelectorAll(marked)) {
      if (markedBy.some((attribute) => changedIds.has(node.dataset[attribute]))) {
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
        if (!response.ok || response.redirected) throw new Error(`${name}: ${response.status}`);
        merge(await response.text(), changed(messages));
        refreshes += 1;
        root.dataset.refreshes = String(refreshes);
        const last = messages[messages.length - 1];
        const text = last ? news(last) : null;
        if (text) announce(text);
      } while (again);
    } catch (err) {
      console.warn(`${name}: list not refreshed`, err);
      announce(failed, true);
    } finally {
      running = false;
    }
  }

  const patient = root.dataset.patient;
  const signal = new SignalClient();
  let opened = 0;
  signal.on("*", (message) => {
    if (!accepts(message)) return;
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
  if (everyMs > 0) {
    setInterval(() => {
      if (!document.hidden) refresh();
    }, everyMs);
  }
}
