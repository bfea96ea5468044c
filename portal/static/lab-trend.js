// Lab trends: a sparkline in each row's trend button, and a larger chart under the row when pressed.
//
// Each `button[data-trend]` carries {points: [{at, date, value, flag}], low, high, unit} (oldest first,
// numeric values only) from bridge/results/chart_results.py. The reference range is the shaded band;
// flagged values are drawn in the flag's colour (CSS classes in results.css), so a doctor sees at a
// glance whether a high potassium is new or has been climbing for weeks.

import { loadStrings, translator } from "./signal.js";

const SVG = "http://www.w3.org/2000/svg";
const SPARK = { width: 112, height: 32, pad: 4 };
const CHART = { width: 640, height: 200, padLeft: 56, padRight: 40, padTop: 22, padBottom: 34 };

function element(name, attributes = {}) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

const round = (value) => Math.round(value * 10) / 10;

// Value range covering the points and the reference limits, with a margin so nothing sits on the edge.
function valueScale(trend) {
  const values = trend.points.map((p) => p.value);
  for (const limit of [trend.low, trend.high]) if (limit !== null && limit !== undefined) values.push(limit);
  let min = Math.min(...values);
  let max = Math.max(...values);
  if (min === max) {
    const spread = Math.abs(min) * 0.1 || 1;
    min -= spread;
    max += spread;
  }
  const margin = (max - min) * 0.08;
  return { min: min - margin, max: max + margin };
}

function timeScale(points) {
  const times = points.map((p) => Date.parse(p.at)).map((ms, i) => (Number.isNaN(ms) ? i : ms));
  const first = Math.min(...times);
  const last = Math.max(...times);
  return { times, first, span: last - first };
}

// Draws the trend into an SVG of the given box; returns the SVG.
function chart(trend, box, { labels = false, t = null, name = "" } = {}) {
  const left = box.padLeft ?? box.pad;
  const right = box.padRight ?? box.pad;
  const top = box.padTop ?? box.pad;
  const bottom = box.padBottom ?? box.pad;
  const plotW = box.width - left - right;
  const plotH = box.height - top - bottom;
  const values = valueScale(trend);
  const time = timeScale(trend.points);
  const x = (i) => left + (time.span > 0 ? ((time.times[i] - time.first) / time.span) * plotW : plotW / 2);
  const y = (v) => top + (1 - (v - values.min) / (values.max - values.min)) * plotH;

  const svg = element("svg", {
    width: box.width,
    height: box.height,
    viewBox: `0 0 ${box.width} ${box.height}`,
    class: labels ? "trend-chart" : "trend-spark",
    role: "img",
  });
  if (labels) svg.setAttribute("aria-label", t("results.trend.title", { name }));
  const hasLow = trend.low !== null && trend.low !== undefined;
  const hasHigh = trend.high !== null && trend.high !== undefined;
  if (hasLow || hasHigh) {
    const bandTop = hasHigh ? y(trend.high) : top;
    const bandBottom = hasLow ? y(trend.low) : top + plotH;
    svg.append(element("rect", { x: left, y: round(bandTop), width: plotW, height: round(Math.max(1, bandBottom - bandTop)), class: "trend-band" }));
  }
  const d = trend.points.map((p, i) => `${i ? "L" : "M"}${round(x(i))} ${round(y(p.value))}`).join("");
  svg.append(element("path", { d, class: "trend-line", "data-points": trend.points.length }));
  trend.points.forEach((p, i) => {
    const last = i === trend.points.length - 1;
    const dot = element("circle", {
      cx: round(x(i)),
      cy: round(y(p.value)),
      r: labels ? 4 : last ? 3 : 1.8,
      class: `trend-point${p.flag ? ` flag-${p.flag.toLowerCase()}` : ""}`,
    });
    const title = element("title");
    title.textContent = `${p.date}  ${p.value} ${trend.unit}${p.flag ? ` ${p.flag}` : ""}`;
    dot.append(title);
    svg.append(dot);
  });
  if (labels) {
    const axis = (text, attributes) => {
      const node = element("text", { class: "trend-axis", ...attributes });
      node.textContent = text;
      svg.append(node);
    };
    axis(trend.unit, { x: left - 6, y: top - 2, "text-anchor": "end" });
    axis(`${round(values.max)}`, { x: left - 6, y: top + 14, "text-anchor": "end" });
    axis(`${round(values.min)}`, { x: left - 6, y: top + plotH, "text-anchor": "end" });
    if (hasLow) axis(`${trend.low}`, { x: left + plotW + 4, y: y(trend.low) + 4, class: "trend-axis trend-limit" });
    if (hasHigh) axis(`${trend.high}`, { x: left + plotW + 4, y: y(trend.high) + 4, class: "trend-axis trend-limit" });
    axis(trend.points[0].date.slice(0, 10), { x: left, y: box.height - 10, "text-anchor": "start" });
    if (trend.points.length > 1) axis(trend.points.at(-1).date.slice(0, 10), { x: left + plotW, y: box.height - 10, "text-anchor": "end" });
    // Each value written by its point while they do not crowd each other.
    if (trend.points.length <= 12) {
      trend.points.forEach((p, i) => axis(`${p.value}${p.flag ? ` ${p.flag}` : ""}`, {
        x: round(x(i)), y: round(y(p.value) - 8), "text-anchor": "middle",
        class: `trend-axis trend-value${p.flag ? " flagged" : ""}`,
      }));
    }
  }
  return svg;
}

function toggleChart(button, t) {
  const row = button.closest("tr");
  const open = row.nextElementSibling && row.nextElementSibling.classList.contains("trend-row") ? row.nextElementSibling : null;
  if (open) {
    open.remove();
    button.setAttribute("aria-expanded", "false");
    return;
  }
  const trend = JSON.parse(button.dataset.trend);
  const name = button.dataset.name || "";
  const detail = document.createElement("tr");
  detail.className = "trend-row";
  detail.dataset.testid = "lab-trend-chart";
  const cell = document.createElement("td");
  cell.colSpan = row.children.length;
  const heading = document.createElement("p");
  heading.className = "trend-heading";
  const parts = [t("results.trend.title", { name }), t("results.trend.count", { n: trend.points.length })];
  if (trend.range) parts.push(`${t("results.trend.range")} ${trend.range} ${trend.unit}`);
  heading.textContent = parts.join(" · ");
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = t("results.trend.close");
  close.addEventListener("click", () => toggleChart(button, t));
  heading.append(" ", close);
  cell.append(heading, chart(trend, CHART, { labels: true, t, name }));
  detail.append(cell);
  row.after(detail);
  button.setAttribute("aria-expanded", "true");
}

export function drawTrends(root = document) {
  const t = translator(loadStrings("results-strings"));
  for (const button of root.querySelectorAll("button[data-trend]")) {
    if (button.dataset.drawn) continue;
    const trend = JSON.parse(button.dataset.trend);
    if (!trend.points.length) continue;
    button.replaceChildren(chart(trend, SPARK));
    button.dataset.drawn = "true";
    button.addEventListener("click", () => toggleChart(button, t));
  }
}

drawTrends();
