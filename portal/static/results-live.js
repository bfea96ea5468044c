// Keeps a resident's results section current: listens on the signalling socket for `result.new`
// (docs/signalling.md) about the resident on this page, fetches the section again from
// GET /residents/{id}/results and swaps it in, then marks what the message named as new.
//
// The message says only what changed; the section is fetched with the page's own session, so what
// appears is what this user may see. After a reconnect the section is fetched once in any case:
// news sent while the socket was down is not replayed.

import { SignalClient, loadStrings, translator } from "./signal.js";
import { drawEcgViewers } from "./ecg-viewer.js";
import { drawTrends } from "./lab-trend.js";

const NEWS_SHOWN_MS = 20000;
const NEW_MARK_MS = 120000;

const container = document.getElementById("results");

function strings() {
  return translator(loadStrings("results-strings"));
}

function newsBanner() {
  let banner = document.getElementById("results-news");
  if (!banner) {
    banner = document.createElement("p");
    banner.id = "results-news";
    banner.className = "results-news";
    banner.dataset.testid = "results-news";
    banner.setAttribute("role", "status");
    banner.hidden = true;
    document.body.append(banner);
  }
  return banner;
}

// The banner names every kind of result that arrived while it was showing.
let hideTimer = null;
let shownKinds = new Set();
function announce(text, failed = false) {
  const banner = newsBanner();
  banner.textContent = text;
  banner.classList.toggle("failed", failed);
  banner.hidden = false;
  clearTimeout(hideTimer);
  if (failed) return;
  hideTimer = setTimeout(() => {
    banner.hidden = true;
    shownKinds = new Set();
  }, NEWS_SHOWN_MS);
}

// What news named stays marked for a while, also across the refreshes later news causes. Marked are
// the lab rows and ECG studies, the things a doctor reads, not every element that names a resource.
const recent = new Map(); // reference -> time its mark ends
function markNew(resources) {
  const now = Date.now();
  for (const ref of resources) recent.set(ref, now + NEW_MARK_MS);
  for (const [ref, until] of recent) if (until < now) recent.delete(ref);
  for (const node of container.querySelectorAll("tr[data-resources], .ecg-study[data-resource]")) {
    const refs = node.dataset.resources ? node.dataset.resources.split(" ") : [node.dataset.resource];
    const until = Math.max(0, ...refs.map((ref) => recent.get(ref) || 0));
    if (until > now) {
      node.classList.add("is-new");
      setTimeout(() => node.classList.remove("is-new"), until - now);
    }
  }
}

// One fetch at a time; messages arriving meanwhile are merged into one more fetch.
let running = false;
let again = false;
let pendingResources = [];
let pendingKinds = new Set();
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
      const resources = pendingResources;
      const kinds = pendingKinds;
      pendingResources = [];
      pendingKinds = new Set();
      const response = await fetch(container.dataset.url, {
        headers: { Accept: "text/html" },
        credentials: "same-origin",
        cache: "no-store",
      });
      // A session that ended redirects to the sign-in page: that is no results section.
      if (!response.ok || response.redirected) throw new Error(`results: ${response.status}`);
      container.innerHTML = await response.text();
      drawEcgViewers(container);
      drawTrends(container);
      markNew(resources);
      refreshes += 1;
      container.dataset.refreshes = String(refreshes);
      if (kinds.size) {
        const t = strings();
        for (const kind of kinds) shownKinds.add(kind);
        const names = [...shownKinds].map((kind) => t(`results.live.kind.${kind}`)).join(t("results.live.separator"));
        announce(t("results.live.new", { kind: names }));
      }
    } while (again);
  } catch (err) {
    console.warn("results not refreshed", err);
    announce(strings()("results.live.failed"), true);
  } finally {
    running = false;
  }
}

function start() {
  if (!container) return;
  const patient = container.dataset.patient;
  const signal = new SignalClient();
  let opened = 0;
  signal.on("result.new", (message) => {
    if (message.patient_id !== patient) return;
    pendingResources.push(...(message.resources || []));
    if (message.kind) pendingKinds.add(message.kind);
    refresh();
  });
  signal.onOpen(() => {
    opened += 1;
    container.dataset.live = "open";
    if (opened > 1) refresh();
  });
  signal.on("status", (message) => {
    if (message.status !== "open") container.dataset.live = message.status;
  });
  signal.connect();
}

start();
