// Live bedside readings from a station's `readings` data channel (docs/signalling.md): a scrolling
// ECG strip and the latest SpO2, heart rate and blood pressure. ECG chunks are played out at their
// own sample rate, so the trace moves smoothly however the chunks arrive.

const SECONDS_SHOWN = 5;
const MAX_BACKLOG_SECONDS = 1.5;
const MICROVOLTS_PER_DIVISION = 500; // one large grid square is 0.5 mV high, 0.2 s wide

export class ReadingsView {
  constructor(root) {
    this.root = root;
    this.canvas = root.querySelector("canvas");
    this.ctx = this.canvas.getContext("2d");
    this.fields = {
      spo2: root.querySelector("[data-reading=spo2]"),
      hr: root.querySelector("[data-reading=hr]"),
      bp: root.querySelector("[data-reading=bp]"),
      lead: root.querySelector("[data-reading=lead]"),
    };
    this.hz = 250;
    this.trace = [];
    this.backlog = [];
    this.lastFrame = null;
    this.carry = 0;
    this.running = false;
    this.count = 0;
    this.resize();
    window.addEventListener("resize", () => this.resize());
  }

  add(reading) {
    if (this.root.hidden) this.root.hidden = false;
    this.count += 1;
    this.root.dataset.count = String(this.count);
    switch (reading.kind) {
      case "ecg":
        this.addEcg(reading);
        break;
      case "spo2":
      case "hr":
        this.show(reading.kind, reading.value, reading.simulated === true);
        break;
      case "bp":
        if (Number.isFinite(reading.systolic) && Number.isFinite(reading.diastolic)) {
          this.show("bp", `${reading.systolic}/${reading.diastolic}`, reading.simulated === true);
        }
        break;
      default:
        break;
    }
  }

  // A value the station made up (no device for it: docs/signalling.md `simulated`) is marked so.
  show(name, value, simulated) {
    const field = this.fields[name];
    if (!field || value === undefined || value === null) return;
    field.textContent = String(value);
    const mark = this.root.querySelector(`[data-simulated=${name}]`);
    if (mark) mark.hidden = !simulated;
    field.classList.toggle("is-simulated", simulated);
    field.classList.remove("fresh");
    void field.offsetWidth; // restart the highlight animation
    field.classList.add("fresh");
  }

  addEcg(reading) {
    if (!Array.isArray(reading.uv)) return;
    const hz = Number(reading.hz);
    if (hz > 0 && hz <= 2000 && hz !== this.hz) {
      this.hz = hz;
      this.trace = [];
      this.backlog = [];
    }
    if (this.fields.lead && typeof reading.lead === "string") this.fields.lead.textContent = reading.lead;
    for (const value of reading.uv) if (Number.isFinite(value)) this.backlog.push(value);
    const limit = Math.round(this.hz * MAX_BACKLOG_SECONDS);
    if (this.backlog.length > limit) this.backlog.splice(0, this.backlog.length - limit); // catch up
    if (!this.running) {
      this.running = true;
      this.lastFrame = null;
      requestAnimationFrame((now) => this.frame(now));
    }
  }

  frame(now) {
    if (this.lastFrame !== null) {
      const due = ((now - this.lastFrame) / 1000) * this.hz + this.carry;
      const take = Math.min(Math.floor(due), this.backlog.length);
      this.carry = take < Math.floor(due) ? 0 : due - take;
      if (take > 0) this.trace.push(...this.backlog.splice(0, take));
      const keep = this.hz * SECONDS_SHOWN;
      if (this.trace.length > keep) this.trace.splice(0, this.trace.length - keep);
    }
    this.lastFrame = now;
    this.draw();
    requestAnimationFrame((t) => this.frame(t));
  }

  resize() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(200, Math.round(this.canvas.clientWidth * ratio));
    const height = Math.max(80, Math.round(this.canvas.clientHeight * ratio));
    if (this.canvas.width !== width) this.canvas.width = width;
    if (this.canvas.height !== height) this.canvas.height = height;
    this.draw();
  }

  draw() {
    const { ctx } = this;
    const { width, height } = this.canvas;
    ctx.clearRect(0, 0, width, height);
    const perSecond = width / SECONDS_SHOWN;
    const division = perSecond / 5; // 0.2 s
    ctx.strokeStyle = "#f3c6c6";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let x = 0; x <= width; x += division) {
      ctx.moveTo(Math.round(x) + 0.5, 0);
      ctx.lineTo(Math.round(x) + 0.5, height);
    }
    for (let y = height / 2; y >= 0; y -= division) {
      ctx.moveTo(0, Math.round(y) + 0.5);
      ctx.lineTo(width, Math.round(y) + 0.5);
    }
    for (let y = height / 2 + division; y <= height; y += division) {
      ctx.moveTo(0, Math.round(y) + 0.5);
      ctx.lineTo(width, Math.round(y) + 0.5);
    }
    ctx.stroke();
    if (this.trace.length < 2) return;
    const step = width / (this.hz * SECONDS_SHOWN);
    const scale = division / MICROVOLTS_PER_DIVISION;
    const start = width - (this.trace.length - 1) * step;
    // Centre on the strip's mean, so that a baseline offset or drift does not push it off the canvas.
    const baseline = this.trace.reduce((sum, uv) => sum + uv, 0) / this.trace.length;
    ctx.strokeStyle = "#0b6e6e";
    ctx.lineWidth = Math.max(1.5, (window.devicePixelRatio || 1) * 1.5);
    ctx.beginPath();
    this.trace.forEach((uv, i) => {
      const x = start + i * step;
      const y = height / 2 - (uv - baseline) * scale;
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
}
