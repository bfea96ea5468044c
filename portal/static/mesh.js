// The browser's side of a consult's full mesh (docs/signalling.md, "Media between participants"):
// one RTCPeerConnection per other participant. The joiner offers to everyone connected; an offer
// from a participant we already have a connection with replaces it (an `ice_restart` offer is
// answered on the existing one), except when both offered at once: then only the participant with
// the lower id gives way, as rtc/mesh.py does; whoever offers opens the `readings` channel first; ICE
// candidates trickle both ways. Work for one participant is queued, so an offer is always handled
// before the candidates that follow it.

const READINGS = "readings";
const RESTART_AFTER_MS = { initiator: 1000, other: 3000 };
const REOFFER_AFTER_MS = 3000;

export class Mesh {
  // callbacks: onPeer(pid) when a new connection replaces any old one, onTrack(pid, track),
  // onPeerState(pid, state), onReading(pid, reading), onPeerClosed(pid)
  constructor(signal, callbacks = {}) {
    this.signal = signal;
    this.callbacks = callbacks;
    this.consultId = null;
    this.me = null;
    this.iceServers = [];
    this.localStream = null;
    this.peers = new Map();
    this.chains = new Map();
    this.statuses = new Map();
    this.exposed = {};
    window.__consultPeers = this.exposed; // for tests: getStats() on each connection
    signal.on("signal.offer", (m) => this.relayed(m, () => this.answerOffer(m)));
    signal.on("signal.answer", (m) => this.relayed(m, () => this.takeAnswer(m)));
    signal.on("signal.candidate", (m) => this.relayed(m, () => this.takeCandidate(m)));
  }

  // Offer to every other participant that is connected now (after consult.join).
  offerToConnected(participants) {
    for (const p of participants || []) {
      if (p.id !== this.me && p.status === "connected") this.serial(p.id, () => this.offer(p.id));
    }
  }

  // A consult.state arrived: forget connections to participants who left.
  update(consult) {
    const present = new Map((consult.participants || []).map((p) => [p.id, p.status]));
    this.statuses = present;
    for (const pid of [...this.peers.keys()]) {
      if (!present.has(pid)) this.serial(pid, () => this.remove(pid));
    }
  }

  closeAll() {
    for (const pid of [...this.peers.keys()]) this.remove(pid);
  }

  // --- offers and answers -----------------------------------------------------------------------

  relayed(message, work) {
    if (message.consult_id !== this.consultId || typeof message.from !== "string") return;
    this.serial(message.from, work);
  }

  serial(pid, work) {
    const previous = this.chains.get(pid) || Promise.resolve();
    const next = previous.then(work).catch((err) => console.warn("mesh: work for", pid, "failed", err));
    this.chains.set(pid, next);
    return next;
  }

  async offer(pid, iceRestart = false) {
    let peer = this.peers.get(pid);
    if (iceRestart && peer) {
      peer.pc.restartIce();
      await peer.pc.setLocalDescription(await peer.pc.createOffer({ iceRestart: true }));
      this.sendDescription("signal.offer", pid, peer, { ice_restart: true });
      return;
    }
    this.remove(pid, true);
    peer = this.newPeer(pid, true);
    // The offerer opens the channel, so that a station that answers can send without renegotiating.
    this.watchChannel(pid, peer, peer.pc.createDataChannel(READINGS));
    this.addLocalMedia(peer.pc, true);
    await peer.pc.setLocalDescription(await peer.pc.createOffer());
    this.sendDescription("signal.offer", pid, peer);
  }

  async answerOffer(message) {
    const pid = message.from;
    let peer = this.peers.get(pid);
    if (!message.ice_restart && peer && peer.pc.signalingState === "have-local-offer" && !this.politeTo(pid)) {
      // Glare: both offered (as rtc/mesh.py decides it). The lower participant id is polite and
      // answers; we are the other one and wait for the answer to ours, offering again should none
      // come (ours may have reached a socket of theirs that has gone since).
      const waiting = peer;
      setTimeout(() => {
        if (this.peers.get(pid) !== waiting || waiting.pc.signalingState !== "have-local-offer") return;
        if (this.signal.connected) this.serial(pid, () => this.offer(pid));
      }, REOFFER_AFTER_MS);
      return;
    }
    if (!(message.ice_restart && peer)) {
      this.remove(pid, true);
      peer = this.newPeer(pid, false);
    }
    try {
      await peer.pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
    } catch (err) {
      console.warn("mesh: unusable offer from", pid, err);
      if (!message.ice_restart) this.remove(pid);
      return;
    }
    if (!message.ice_restart) this.addLocalMedia(peer.pc, false);
    await this.flushCandidates(peer);
    await peer.pc.setLocalDescription(await peer.pc.createAnswer());
    this.sendDescription("signal.answer", pid, peer);
  }

  async takeAnswer(message) {
    const peer = this.peers.get(message.from);
    if (!peer || peer.pc.signalingState !== "have-local-offer") return; // matches no offer of ours
    await peer.pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
    await this.flushCandidates(peer);
  }

  async takeCandidate(message) {
    const peer = this.peers.get(message.from);
    if (!peer) return;
    if (!peer.pc.remoteDescription) {
      peer.incoming.push(message.candidate);
      return;
    }
    await this.addCandidate(peer, message.candidate);
  }

  async flushCandidates(peer) {
    const waiting = peer.incoming.splice(0);
    for (const candidate of waiting) await this.addCandidate(peer, candidate);
  }

  async addCandidate(peer, candidate) {
    try {
      if (!candidate || !candidate.candidate) await peer.pc.addIceCandidate();
      else await peer.pc.addIceCandidate(candidate);
    } catch (err) {
      console.warn("mesh: bad ICE candidate", err);
    }
  }

  sendDescription(type, pid, peer, extra = {}) {
    this.signal.send(type, { consult_id: this.consultId, to: pid, sdp: peer.pc.localDescription.sdp, ...extra });
    peer.described = true;
    for (const candidate of peer.outgoing.splice(0)) this.sendCandidate(pid, candidate);
  }

  sendCandidate(pid, candidate) {
    this.signal.send("signal.candidate", { consult_id: this.consultId, to: pid, candidate });
  }

  politeTo(pid) {
    return this.me === null || this.me < pid;
  }

  // --- connections ------------------------------------------------------------------------------

  newPeer(pid, initiator) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const peer = { pc, initiator, incoming: [], outgoing: [], described: false, restartTimer: null };
    this.peers.set(pid, peer);
    this.exposed[pid] = pc;
    if (this.callbacks.onPeer) this.callbacks.onPeer(pid);
    pc.addEventListener("icecandidate", (event) => {
      if (this.peers.get(pid) !== peer) return;
      const candidate = event.candidate ? event.candidate.toJSON() : null;
      if (candidate && !candidate.candidate) return; // Chrome's empty end-of-generation marker; null follows
      if (peer.described) this.sendCandidate(pid, candidate);
      else peer.outgoing.push(candidate);
    });
    pc.addEventListener("track", (event) => {
      if (this.peers.get(pid) === peer && this.callbacks.onTrack) this.callbacks.onTrack(pid, event.track);
    });
    pc.addEventListener("datachannel", (event) => {
      if (this.peers.get(pid) === peer) this.watchChannel(pid, peer, event.channel);
    });
    pc.addEventListener("connectionstatechange", () => this.stateChanged(pid, peer));
    return peer;
  }

  addLocalMedia(pc, offering) {
    const stream = this.localStream;
    const kinds = ["audio", "video"];
    for (const kind of kinds) {
      const track = stream ? stream.getTracks().find((t) => t.kind === kind) : undefined;
      if (track) pc.addTrack(track, stream);
      else if (offering) pc.addTransceiver(kind, { direction: "recvonly" });
    }
  }

  watchChannel(pid, peer, channel) {
    if (channel.label !== READINGS) return;
    channel.addEventListener("message", (event) => {
      if (this.peers.get(pid) !== peer || typeof event.data !== "string") return;
      let reading;
      try {
        reading = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (reading && typeof reading === "object" && this.callbacks.onReading) this.callbacks.onReading(pid, reading);
    });
  }

  remove(pid, replaced = false) {
    const peer = this.peers.get(pid);
    if (!peer) return;
    this.peers.delete(pid);
    delete this.exposed[pid];
    clearTimeout(peer.restartTimer);
    peer.pc.close();
    if (!replaced && this.callbacks.onPeerClosed) this.callbacks.onPeerClosed(pid);
  }

  stateChanged(pid, peer) {
    if (this.peers.get(pid) !== peer) return;
    const state = peer.pc.connectionState;
    if (this.callbacks.onPeerState) this.callbacks.onPeerState(pid, state);
    if (state !== "failed") return;
    // The side that made the offer restarts first; the other waits longer, so that the two
    // restarts rarely cross. A new offer from the other side in between replaces this connection.
    clearTimeout(peer.restartTimer);
    const wait = peer.initiator ? RESTART_AFTER_MS.initiator : RESTART_AFTER_MS.other;
    peer.restartTimer = setTimeout(() => {
      if (this.peers.get(pid) !== peer || peer.pc.connectionState !== "failed") return;
      if (!this.signal.connected || this.statuses.get(pid) !== "connected") return;
      this.serial(pid, () => this.offer(pid, true));
    }, wait);
  }
}
