// Keeps a list of prescriptions current (the nurse's list, the pharmacy desk, a resident's
// prescriptions) on `prescription.changed` news (bridge/prescriptions/news.py); how: live-list.js.

import { loadStrings, translator } from "./signal.js";
import { keepListCurrent } from "./live-list.js";

const t = translator(loadStrings("rx-strings"));

keepListCurrent({
  name: "rx",
  root: document.getElementById("rx-live"),
  accepts: (message) => message.type === "prescription.changed",
  changed: (messages) => new Set(messages.map((m) => m.task_id)),
  marked: "[data-task]",
  markedBy: ["task"],
  news: (last) => (last.step ? t("rx.live.changed", { step: t(`rx.step.${last.step}`) }) : null),
  failed: t("rx.live.failed"),
});
