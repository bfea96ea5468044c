// The nurse's upload page (portal/templates/results_upload.html): files dropped or chosen are sent to
// the ingest API one upload at a time, each with its progress bar, and each row then says what became
// of it: matched to a resident (a link to her page), quarantined (with the reason), or refused.
//   laboratory: every .hl7 file is one message, POST /ingest/hl7v2 (the message names its resident);
//   ECG: a WFDB record is its .hea and .dat together, any other ECG file goes alone, POST /ingest/ecg
//   with the resident chosen on the page.
// When all are done, the list of recent uploads below is fetched again (it is rendered by the server).

const root = document.getElementById("results-upload");
const strings = JSON.parse(document.getElementById("upload-strings")?.textContent || "{}");
const csrf = root.dataset.csrf;
const ecgSuffixes = new Set(root.dataset.ecg.split(" "));
const labSuffixes = new Set(root.dataset.lab.split(" "));
const list = document.getElementById("upload-list");
const zone = document.getElementById("drop-zone");
const input = root.querySelector("input[type=file]");
const resident = root.querySelector("select[name=patient]");
const HL7_TYPE = "x-application/hl7-v2+er7";
const WFDB = new Set([".hea", ".dat"]);
const PARALLEL = 2;

function t(key, params = {}) {
  const text = strings[key];
  if (text === undefined) return key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

function suffix(name) {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : name.slice(dot).toLowerCase();
}

function stem(name) {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? name : name.slice(0, dot);
}

// Files -> uploads: {kind: "lab" | "ecg" | "refused", files, reason?}
function plan(files) {
  const uploads = [];
  const records = new Map();
  for (const file of files) {
    const ext = suffix(file.name);
    if (labSuffixes.has(ext)) uploads.push({ kind: "lab", files: [file] });
    else if (WFDB.has(ext)) {
      const key = stem(file.name);
      if (!records.has(key)) records.set(key, []);
      records.get(key).push(file);
    } else if (ecgSuffixes.has(ext)) uploads.push({ kind: "ecg", files: [file] });
    else uploads.push({ kind: "refused", files: [file], reason: t("upload.error.format") });
  }
  for (const group of records.values()) {
    const exts = new Set(group.map((f) => suffix(f.name)));
    if (exts.has(".hea") && exts.has(".dat")) uploads.push({ kind: "ecg", files: group });
    else uploads.push({ kind: "refused", files: group, reason: t("upload.error.pair") });
  }
  return uploads;
}

function addRow(upload) {
  const item = document.createElement("li");
  item.dataset.testid = "upload-item";
  item.dataset.status = "waiting";
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = upload.files.map((f) => f.name).join(" + ");
  const progress = document.createElement("progress");
  progress.max = 100;
  progress.value = 0;
  progress.dataset.testid = "upload-progress";
  const result = document.createElement("span");
  result.className = "result";
  result.dataset.testid = "upload-result";
  result.textContent = t("upload.status.waiting");
  item.append(name, progress, result);
  list.append(item);
  return { item, progress, result };
}

function show(row, status, text, patient) {
  row.item.dataset.status = status;
  row.result.replaceChildren();
  const label = document.createElement("span");
  label.className = `upload-status upload-${status}`;
  label.textContent = t(`upload.status.${status}`);
  row.result.append(label);
  if (patient && patient.id) {
    const link = document.createElement("a");
    link.href = `/residents/${encodeURIComponent(patient.id)}`;
    link.textContent = patient.name || patient.id;
    link.dataset.testid = "upload-resident-link";
    row.result.append(" ", link);
  }
  if (text) {
    const detail = document.createElement("small");
    detail.className = "reason";
    detail.dataset.testid = "upload-reason";
    detail.textContent = text;
    row.result.append(document.createElement("br"), detail);
  }
}

// POST with upload progress; resolves with the finished request, or null when the network failed.
function send(url, body, headers, row) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) row.progress.value = Math.round((100 * event.loaded) / event.total);
    });
    xhr.upload.addEventListener("load", () => {
      row.progress.value = 100;
      row.item.dataset.status = "received";
      row.result.textContent = t("upload.status.received");
    });
    xhr.addEventListener("load", () => resolve(xhr));
    xhr.addEventListener("error", () => resolve(null));
    xhr.send(body);
  });
}

function parseAck(text) {
  const segments = text.split(/\r\n|\r|\n/);
  const msh = segments.find((s) => s.startsWith("MSH"));
  const separator = msh ? msh.charAt(3) : "|";
  const msa = segments.find((s) => s.startsWith("MSA"));
  const fields = msa ? msa.split(separator) : [];
  return { code: fields[1] || "", controlId: fields[2] || "", text: fields[3] || "" };
}

function outcomeText(xhr) {
  try {
    const outcome = JSON.parse(xhr.responseText);
    const issues = (outcome.issue || []).map((i) => i.diagnostics || i.details?.text || i.code);
    if (issues.length) return issues.join("; ");
  } catch (error) {
    // not JSON: fall through to the status line
  }
  return `${xhr.status} ${xhr.statusText}`;
}

async function sendLab(upload, row) {
  const xhr = await send("/ingest/hl7v2", upload.files[0], { "Content-Type": HL7_TYPE }, row);
  if (!xhr) return show(row, "failed", t("upload.error.network"));
  if (xhr.status !== 200) return show(row, "failed", outcomeText(xhr));
  const ack = parseAck(xhr.responseText);
  if (xhr.getResponseHeader("X-Bridge-Quarantine")) return show(row, "quarantined", ack.text);
  if (ack.code !== "AA") return show(row, "failed", ack.text);
  let patient = null;
  const answer = await fetch(`/results/upload/hl7?control_id=${encodeURIComponent(ack.controlId)}`, {
    headers: { Accept: "application/json" },
  });
  if (answer.ok) {
    const outcome = await answer.json();
    patient = { id: outcome.patient_id, name: outcome.patient_name };
  }
  show(row, "matched", ack.text, patient);
}

async function sendEcg(upload, row) {
  const chosen = resident.value;
  if (!chosen) return show(row, "failed", t("upload.error.resident"));
  const form = new FormData();
  form.append("patient", chosen);
  for (const file of upload.files) form.append("file", file, file.name);
  const xhr = await send("/ingest/ecg", form, {}, row);
  if (!xhr) return show(row, "failed", t("upload.error.network"));
  if (xhr.status === 201) {
    const observation = JSON.parse(xhr.responseText);
    const id = (observation.subject?.reference || "").replace(/^Patient\//, "");
    const name = resident.selectedOptions[0]?.textContent.split(" · ")[0];
    return show(row, "matched", "", { id, name });
  }
  if (xhr.getResponseHeader("X-Bridge-Quarantine")) return show(row, "quarantined", outcomeText(xhr));
  show(row, "failed", outcomeText(xhr));
}

async function refreshRecent() {
  const response = await fetch(window.location.pathname, { headers: { Accept: "text/html" } });
  if (!response.ok) return;
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = page.getElementById("recent-uploads");
  const current = document.getElementById("recent-uploads");
  if (fresh && current) current.replaceWith(fresh);
}

async function handle(files) {
  const queue = plan([...files]).map((upload) => ({ upload, row: addRow(upload) }));
  for (const { upload, row } of queue) if (upload.kind === "refused") show(row, "failed", upload.reason);
  const pending = queue.filter(({ upload }) => upload.kind !== "refused");
  const worker = async () => {
    while (pending.length) {
      const { upload, row } = pending.shift();
      try {
        await (upload.kind === "lab" ? sendLab(upload, row) : sendEcg(upload, row));
      } catch (error) {
        show(row, "failed", String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  root.dataset.done = String(Number(root.dataset.done || 0) + 1);
  await refreshRecent();
}

zone.addEventListener("dragover", (event) => {
  event.preventDefault();
  zone.classList.add("dragging");
});
zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  zone.classList.remove("dragging");
  if (event.dataTransfer?.files?.length) handle(event.dataTransfer.files);
});
input.addEventListener("change", () => {
  if (input.files.length) handle(input.files);
  input.value = "";
});
root.dataset.ready = "true";
