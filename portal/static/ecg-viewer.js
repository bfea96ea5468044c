// ECG viewer: draws the leads of each `.ecg-viewer` as SVG on the standard paper grid.
//
// Standard paper: 1 mm small squares, 5 mm large squares, 25 mm/s, 10 mm/mV, a 1 mV calibration pulse
// (10 mm tall, 0.2 s wide) at the start of every row. A 12-lead record is laid out 3 rows × 4 columns of
// 2.5 s (I aVR V1 V4 / II aVL V2 V5 / III aVF V3 V6: each column continues the time of the one before,
// as an electrocardiograph prints it) with a 10-s rhythm strip of lead II below; other records show
// each lead as a 10-s strip. Millimetres become CSS pixels at one scale per page width, set so the
// 10 s fit the viewer (about 3.6 px/mm on a 1280×800 tablet); the SVG is drawn at exactly its pixel
// size, so the grid's spacing is the scale and the tests can measure it.
//
// Data: a JSON block (class `ecg-data`) in the viewer, {layout, leads: [{name, label, period_ms,
// samples}]}, samples in microvolts (null = unusable sample, drawn as a gap).

import { loadStrings, translator } from "./signal.js";

const SVG = "http://www.w3.org/2000/svg";
const MM_PER_S = 25;
const MM_PER_MV = 10;
const STRIP_S = 10;
const COLUMN_S = 2.5;
const LEFT_MM = 10; // calibration pulse and its margin
const RIGHT_MM = 2;
const ROW_MM = 30; // room for ±1.5 mV around each baseline before neighbouring rows overlap
const BASELINE_AT = 0.55; // of a row, from its top: R waves need more room than S waves
const MIN_PX_PER_MM = 2.5; // below this the small squares vanish: scroll sideways instead
const MAX_PX_PER_MM = 6;
const GRID_12 = [
  ["I", "aVR", "V1", "V4"],
  ["II", "aVL", "V2", "V5"],
  ["III", "aVF", "V3", "V6"],
];
const RHYTHM_LEAD = "II";

function element(name, attributes = {}) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

const round = (value) => Math.round(value * 10) / 10;

// Paths for the two grids: one `d` each keeps thousands of lines to two DOM nodes.
function gridPaths(widthMm, heightMm, px) {
  const small = [];
  const large = [];
  for (let mm = 0; mm <= widthMm; mm += 1) (mm % 5 === 0 ? large : small).push(`M${round(mm * px)} 0V${round(heightMm * px)}`);
  for (let mm = 0; mm <= heightMm; mm += 1) (mm % 5 === 0 ? large : small).push(`M0 ${round(mm * px)}H${round(widthMm * px)}`);
  return { small: small.join(""), large: large.join("") };
}

// The trace of `lead` from `startS` for `seconds`, drawn from x = `x0` (px) around `baseline` (px).
function tracePath(lead, startS, seconds, x0, baseline, px) {
  const perSample = lead.period_ms / 1000;
  const first = Math.round(startS / perSample);
  const last = Math.min(lead.samples.length, Math.round((startS + seconds) / perSample));
  const parts = [];
  let points = 0;
  let pen = "M";
  for (let i = first; i < last; i += 1) {
    const uv = lead.samples[i];
    if (uv === null || uv === undefined) {
      pen = "M";
      continue;
    }
    const x = x0 + (i - first) * perSample * MM_PER_S * px;
    const y = baseline - (uv / 1000) * MM_PER_MV * px;
    parts.push(`${pen}${round(x)} ${round(y)}`);
    pen = "L";
    points += 1;
  }
  return { d: parts.join(""), points };
}

function calibration(baseline, px) {
  const x = (mm) => round(mm * px);
  const top = round(baseline - MM_PER_MV * px);
  return `M${x(1)} ${round(baseline)}H${x(2)}V${top}H${x(7)}V${round(baseline)}H${x(9)}`;
}

// Rows to draw: [{label, segments: [{lead, label, startS, seconds, offsetS}]}].
function layoutRows(data, t) {
  const byName = new Map(data.leads.map((lead) => [lead.name, lead]));
  if (data.layout === "12-lead") {
    const rows = GRID_12.map((names) => ({
      segments: names.map((name, column) => ({
        lead: byName.get(name),
        label: name,
        startS: column * COLUMN_S,
        seconds: COLUMN_S,
      })),
    }));
    const rhythm = byName.get(RHYTHM_LEAD) || data.leads[0];
    rows.push({ rhythm: true, segments: [{ lead: rhythm, label: t("results.js.rhythm", { lead: rhythm.label }), startS: 0, seconds: STRIP_S }] });
    // Leads beyond the twelve (Frank X Y Z, right-sided leads) are not hidden: a strip each below.
    const standard = new Set(GRID_12.flat());
    for (const lead of data.leads) {
      if (!standard.has(lead.name)) rows.push({ segments: [{ lead, label: lead.label, startS: 0, seconds: STRIP_S }] });
    }
    return rows;
  }
  return data.leads.map((lead) => ({ segments: [{ lead, label: lead.label, startS: 0, seconds: STRIP_S }] }));
}

export function drawEcg(viewer, t) {
  const canvas = viewer.querySelector("[data-field=canvas]");
  const source = viewer.querySelector("script.ecg-data");
  if (!canvas || !source) return;
  const data = JSON.parse(source.textContent);
  if (!data.leads.length) {
    canvas.textContent = t("results.js.no_leads");
    return;
  }
  const rows = layoutRows(data, t);
  const widthMm = LEFT_MM + STRIP_S * MM_PER_S + RIGHT_MM;
  const heightMm = rows.length * ROW_MM;
  const available = canvas.clientWidth || viewer.clientWidth || 960;
  const px = Math.min(MAX_PX_PER_MM, Math.max(MIN_PX_PER_MM, Math.floor((available / widthMm) * 20) / 20));
  const width = round(widthMm * px);
  const height = round(heightMm * px);

  const svg = element("svg", {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    class: "ecg-paper",
    role: "img",
    "data-testid": "ecg-svg",
    "data-px-per-mm": px,
    "data-px-per-second": round(px * MM_PER_S),
    "data-px-per-mv": round(px * MM_PER_MV),
  });
  svg.append(element("rect", { width, height, class: "ecg-background" }));
  const grid = gridPaths(widthMm, heightMm, px);
  svg.append(element("path", { d: grid.small, class: "ecg-grid-small", "data-testid": "ecg-grid-small" }));
  svg.append(element("path", { d: grid.large, class: "ecg-grid-large", "data-testid": "ecg-grid-large" }));

  const x0 = LEFT_MM * px;
  rows.forEach((row, index) => {
    const baseline = (index * ROW_MM + ROW_MM * BASELINE_AT) * px;
    svg.append(element("path", { d: calibration(baseline, px), class: "ecg-calibration", "data-testid": "ecg-calibration" }));
    for (const segment of row.segments) {
      const x = x0 + segment.startS * MM_PER_S * px;
      const label = element("text", { x: round(x + 2 * px), y: round(index * ROW_MM * px + 4 * px), class: "ecg-label" });
      label.textContent = segment.label;
      svg.append(label);
      if (segment.startS > 0) {
        // The column boundary mark an electrocardiograph prints between leads.
        const tick = `M${round(x)} ${round(baseline - 3 * px)}V${round(baseline + 3 * px)}`;
        svg.append(element("path", { d: tick, class: "ecg-divider" }));
      }
      if (!segment.lead) continue;
      const trace = tracePath(segment.lead, segment.startS, segment.seconds, x, baseline, px);
      svg.append(
        element("path", {
          d: trace.d,
          class: "ecg-trace",
          "data-lead": segment.lead.name,
          "data-points": trace.points,
          "data-start-s": segment.startS,
          "data-rhythm": row.rhythm ? "true" : "false",
        }),
      );
    }
  });
  canvas.replaceChildren(svg);
  viewer.dataset.drawn = "true";
  viewer.dataset.pxPerMm = String(px);
}

function drawWhenOpen(viewer, t) {
  const details = viewer.closest("details");
  if (details && !details.open) {
    details.addEventListener("toggle", () => details.open && drawEcg(viewer, t), { once: true });
    return;
  }
  drawEcg(viewer, t);
}

export function drawEcgViewers(root = document) {
  const t = translator(loadStrings("results-strings"));
  for (const viewer of root.querySelectorAll(".ecg-viewer")) drawWhenOpen(viewer, t);
}

// Redraw at the new scale when the page width changes (a tablet turned, a window resized).
let lastWidth = window.innerWidth;
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (window.innerWidth === lastWidth) return;
    lastWidth = window.innerWidth;
    const t = translator(loadStrings("results-strings"));
    for (const viewer of document.querySelectorAll(".ecg-viewer[data-drawn=true]")) drawEcg(viewer, t);
  }, 200);
});

drawEcgViewers();
