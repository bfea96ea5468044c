// The consult page: requests the consult (a nurse's or a doctor's new consult) or joins it (a
// participant, also after a reload), shows it ringing, then the call: video tiles, mute, camera off,
// hang up, participants reconnecting, live readings, and the end. Everything it shows comes from the
// page's JSON block (consult_call.html) and from protocol v1 messages.

import { Mesh } from "./mesh.js";
import { ReadingsView } from "./readings.js";
import { SignalClient, elapsed, errorText, translator } from "./signal.js";

const WAITING = new Set(["requested", "ringing"]);
const TERMINAL = new Set(["ended", "declined", "timed_out", "cancelled"]);
const LIVE = new Set(["accepted", "in_call", "reconnecting"]);
const NO_TILE_ROLES = new Set(["recorder"]);

const data = JSON.parse(document.getElementById("call-data").textContent);
const strings = data.strings;
const t = translator(strings);
const root = document.getElementById("call");
const $ = (selector) => root.querySelector(selector);

const ui = {
  state: $("[data-field=state]"),
  timer: $("[data-field=timer]"),
  urgency: $("[data-field=urgency]"),
  recording: $("[data-field=recording]"),
  selfReconnecting: $("[data-banner=self-reconnecting]"),
  error: $("[data-banner=error]"),
  ended: $("[data-panel=ended]"),
  endedText: $("[data-field=ended-text]"),
  ringing: $("[data-panel=ringing]"),
  ringingWait: $("[data-field=ringing-wait]"),
  tiles: $("[data-field=tiles]"),
  local: $("[data-tile=local]"),
  controls: $("[data-panel=controls]"),
  cancel: $("[data-action=cancel]"),
  mute: $("[data-action=mute]"),
  camera: $("[data-action=camera]"),
  hangup: $("[data-action=hangup]"),
  invite: $("[data-panel=invite]"),
};

let consultId = data.consult_id;
let consult = null;
let requested = false;
let finished = false;
let localStream = null;
let requestedAt = data.requested_at ? Date.parse(data.requested_at) : null;
let acceptedAt = null;
const remoteStreams = new Map();

const signal = new SignalClient(data.signal_path);
window.__consultSignal = signal; // for tests: drop the socket to see the page reconnect and rejoin
const readings = new ReadingsView($("[data-panel=readings]"));
const mesh = new Mesh(signal, {
  onPeer: (pid) => {
    remoteStreams.set(pid, new MediaStream());
    const tile = tileFor(pid);
    if (tile) attachStream(tile, pid);
  },
  onTrack: (pid, track) => {
    const stream = remoteStreams.get(pid);
    if (!stream) return;
    stream.addTrack(track);
    const tile = tileFor(pid);
    if (tile) attachStream(tile, pid);
  },
  onPeerState: (pid, state) => {
    const tile = tileFor(pid);
    if (tile) tile.dataset.media = state;
  },
  onPeerClosed: (pid) => remoteStreams.delete(pid),
  onReading: (pid, reading) => readings.add(reading),
});

// --- local media ------------------------------------------------------------------------------

async function startMedia() {
  const attempts = [{ audio: true, video: true }, { audio: false, video: true }, { audio: true, video: false }];
  let lastError = null;
  for (const constraints of attempts) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch (err) {
      lastError = err;
    }
  }
  showError(t("call.no_camera", { error: lastError ? lastError.name : "" }));
  return null;
}

const mediaReady = startMedia().then((stream) => {
  localStream = stream;
  mesh.localStream = stream;
  const video = ui.local.querySelector("video");
  if (stream) {
    video.srcObject = stream;
    video.play().catch(() => {});
  }
  ui.mute.disabled = !stream || stream.getAudioTracks().length === 0;
  ui.camera.disabled = !stream || stream.getVideoTracks().length === 0;
  return stream;
});

function setTrackEnabled(kind, enabled) {
  if (!localStream) return;
  for (const track of localStream.getTracks()) if (track.kind === kind) track.enabled = enabled;
}

ui.mute.addEventListener("click", () => {
  const muted = ui.mute.getAttribute("aria-pressed") !== "true";
  setTrackEnabled("audio", !muted);
  ui.mute.setAttribute("aria-pressed", String(muted));
  ui.mute.textContent = t(muted ? "call.unmute" : "call.mute");
  ui.local.dataset.muted = String(muted);
});

ui.camera.addEventListener("click", () => {
  const off = ui.camera.getAttribute("aria-pressed") !== "true";
  setTrackEnabled("video", !off);
  ui.camera.setAttribute("aria-pressed", String(off));
  ui.camera.textContent = t(off ? "call.camera_on" : "call.camera_off");
  ui.local.dataset.cameraOff = String(off);
});

// --- tiles ------------------------------------------------------------------------------------

function tileFor(pid) {
  return ui.tiles.querySelector(`[data-participant="${CSS.escape(pid)}"]`);
}

function roleName(role) {
  const key = `consult.role.${role}`;
  return key in strings ? t(key) : role;
}

function attachStream(tile, pid) {
  const video = tile.querySelector("video");
  const stream = remoteStreams.get(pid);
  if (!stream || video.srcObject === stream) return;
  video.srcObject = stream;
  video.play().catch(() => {
    // Autoplay with sound refused (no camera captured, no gesture yet): play muted until a click.
    video.muted = true;
    video.play().catch(() => {});
    document.addEventListener("pointerdown", () => { video.muted = false; }, { once: true });
  });
}

function renderTiles(participants) {
  const shown = new Set();
  for (const p of participants) {
    if (p.id === mesh.me || NO_TILE_ROLES.has(p.role)) continue;
    shown.add(p.id);
    let tile = tileFor(p.id);
    if (!tile) {
      tile = document.createElement("figure");
      tile.className = "video-tile";
      tile.dataset.participant = p.id;
      tile.dataset.testid = "tile-remote";
      const video = document.createElement("video");
      video.autoplay = true;
      video.playsInline = true;
      const caption = document.createElement("figcaption");
      const name = document.createElement("strong");
      const role = document.createElement("span");
      caption.append(name, " ", role);
      const overlay = document.createElement("div");
      overlay.className = "tile-overlay";
      overlay.textContent = t("call.reconnecting");
      tile.append(video, caption, overlay);
      ui.tiles.append(tile);
      attachStream(tile, p.id);
    }
    tile.querySelector("strong").textContent = p.display;
    tile.querySelector("figcaption span").textContent = roleName(p.role);
    tile.dataset.role = p.role;
    tile.dataset.status = p.status;
  }
  for (const tile of ui.tiles.querySelectorAll("[data-participant]")) {
    if (!shown.has(tile.dataset.participant)) tile.remove();
  }
  ui.tiles.dataset.count = String(shown.size + 1);
  ui.recording.hidden = !participants.some((p) => p.role === "recorder");
}

// --- consult state ----------------------------------------------------------------------------

function showError(text) {
  ui.error.textContent = text;
  ui.error.hidden = !text;
}

function applyState(next) {
  if (!next || (consultId && next.id !== consultId)) return;
  consult = next;
  const { state } = next;
  root.dataset.state = state;
  ui.state.textContent = t(`consult.state.${state}`);
  ui.urgency.textContent = t(`consult.urgency.${next.urgency}`);
  ui.urgency.className = `urgency urgency-${next.urgency}`;
  if (next.requested_at) requestedAt = Date.parse(next.requested_at);
  acceptedAt = next.accepted_at ? Date.parse(next.accepted_at) : null;
  const waiting = WAITING.has(state);
  ui.ringing.hidden = !waiting;
  ui.cancel.hidden = !waiting || data.hang_up !== "end";
  ui.hangup.hidden = waiting;
  if (ui.invite) ui.invite.hidden = !LIVE.has(state);
  mesh.update(next);
  renderTiles(next.participants || []);
  if (TERMINAL.has(state)) finish(next);
  tick();
}

function finish(last, text) {
  if (finished) return;
  finished = true;
  mesh.closeAll();
  signal.stop();
  if (localStream) for (const track of localStream.getTracks()) track.stop();
  const stateText = last ? t(`consult.state.${last.state}`) : "";
  // The end reason only when it says more than the state (not "cancelled" for a cancelled consult).
  const reason = last && last.end_reason !== last.state ? last.end_reason : null;
  const reasonKey = reason ? `consult.end_reason.${reason}` : null;
  const withReason =
    reasonKey && reasonKey in strings ? t("call.ended_because", { state: stateText, reason: t(reasonKey) }) : null;
  ui.endedText.textContent = text || withReason || stateText;
  root.dataset.state = last ? last.state : "over";
  root.dataset.over = "true";
  ui.ended.hidden = false;
  ui.ringing.hidden = true;
  ui.controls.hidden = true;
  ui.selfReconnecting.hidden = true;
}

function tick() {
  if (!consult || TERMINAL.has(consult.state)) {
    ui.timer.textContent = "";
    return;
  }
  if (WAITING.has(consult.state) && requestedAt) {
    const text = t("call.waiting", { time: elapsed(requestedAt) });
    ui.timer.textContent = text;
    ui.ringingWait.textContent = text;
  } else if (acceptedAt) {
    ui.timer.textContent = t("call.duration", { time: elapsed(acceptedAt) });
  }
}
setInterval(tick, 1000);

// --- signalling -------------------------------------------------------------------------------

signal.on("status", ({ status }) => {
  root.dataset.socket = status;
  ui.selfReconnecting.hidden = finished || status !== "reconnecting";
  if (status === "stopped" && !finished) showError(t("consult.error.auth_required"));
});

signal.on("consult.state", (message) => {
  if (consultId && message.consult && message.consult.id === consultId) applyState(message.consult);
});

signal.on("error", (message) => {
  // Errors to our requests are shown where they were made. Relayed SDP or candidates that arrive
  // after their participant left are refused harmlessly (not_in_consult): only logged.
  if (message.ref || message.consult_id !== consultId) return;
  if (message.code === "not_in_consult") console.info("signalling:", message.message);
  else showError(errorText(t, strings, message.code));
});

signal.onOpen(async (welcome) => {
  mesh.iceServers = Array.isArray(welcome.ice_servers) ? welcome.ice_servers : [];
  await mediaReady;
  if (finished) return;
  try {
    if (!consultId && data.request && !requested) {
      requested = true;
      const request = { ...data.request };
      if (!request.station_id) delete request.station_id;
      const reply = await signal.request("consult.request", request);
      consultId = reply.consult.id;
      mesh.consultId = consultId;
      mesh.me = reply.you || null;
      if (Array.isArray(reply.ice_servers)) mesh.iceServers = reply.ice_servers;
      // A reload from here on rejoins the consult instead of requesting another.
      const callPath = `/consults/${encodeURIComponent(consultId)}/call`;
      window.history.replaceState(null, "", callPath);
      // The language switch reloads the page it was rendered for: now the call, not the request.
      for (const next of document.querySelectorAll('form[action="/lang"] input[name=next]')) next.value = callPath;
      root.dataset.consultId = consultId;
      applyState(reply.consult);
    } else if (consultId) {
      mesh.consultId = consultId;
      const reply = await signal.request("consult.join", { consult_id: consultId });
      mesh.me = reply.you || mesh.me;
      if (Array.isArray(reply.ice_servers)) mesh.iceServers = reply.ice_servers; // fresher TURN credentials
      applyState(reply.consult);
      if (!TERMINAL.has(reply.consult.state)) mesh.offerToConnected(reply.consult.participants);
    }
    showError("");
  } catch (err) {
    if (err.code === "consult_ended") finish(consult, t("consult.error.consult_ended"));
    else if (!consultId && data.request) {
      // Refused, or the socket went before the reply: whether a consult started is then unknown,
      // and requesting again on the next socket could start a second one.
      const lost = err.code === "closed" || err.code === "timeout";
      finish(null, lost ? t("call.request_unknown") : errorText(t, strings, err.code));
    } else if (err.code !== "closed") showError(errorText(t, strings, err.code));
  }
});

// --- buttons ----------------------------------------------------------------------------------

async function act(type) {
  if (!consultId) return;
  try {
    const reply = await signal.request(type, { consult_id: consultId });
    if (type === "consult.leave") finish(reply.consult, t("call.left"));
    else applyState(reply.consult);
  } catch (err) {
    if (err.code === "consult_ended") finish(consult, t("consult.error.consult_ended"));
    else showError(errorText(t, strings, err.code));
  }
}

// The doctor invites a specialist, an interpreter or a family member with a one-time link.
if (ui.invite) {
  const button = ui.invite.querySelector("[data-action=invite]");
  const url = ui.invite.querySelector("[data-field=invite-url]");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const role = ui.invite.querySelector("[data-field=invite-role]").value;
      const reply = await signal.request("consult.invite", { consult_id: consultId, role });
      url.value = reply.url;
      const until = new Date(reply.expires_at).toLocaleTimeString(document.documentElement.lang, {
        hour: "2-digit",
        minute: "2-digit",
      });
      ui.invite.querySelector("[data-field=invite-expires]").textContent = t("call.invite_expires", { time: until });
      ui.invite.querySelector("[data-field=invite-result]").hidden = false;
      url.select();
    } catch (err) {
      showError(errorText(t, strings, err.code));
    } finally {
      button.disabled = false;
    }
  });
  url.addEventListener("focus", () => url.select());
}

ui.cancel.addEventListener("click", () => act("consult.cancel"));
ui.hangup.addEventListener("click", () => act(data.hang_up === "leave" ? "consult.leave" : "consult.end"));

root.dataset.consultId = consultId || "";
ui.state.textContent = t("consult.state.connecting");
signal.connect();
