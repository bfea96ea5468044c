// Keeps advice current: the nurse's advice and tasks (/advice) and a resident's advice beside the
// chart, on `advice.*` news (bridge/advice/news.py); how: live-list.js. The list is also fetched once
// a minute, so a task whose due time passes is marked overdue without any news.

import { loadStrings, translator } from "./signal.js";
import { keepListCurrent } from "./live-list.js";

const OVERDUE_CHECK_MS = 60000;
const t = translator(loadStrings("advice-strings"));

keepListCurrent({
  name: "advice",
  root: document.getElementById("advice-live"),
  accepts: (message) => typeof message.type === "string" && message.type.startsWith("advice."),
  changed: (messages) => new Set(messages.flatMap((m) => [m.communication_id, m.task_id]).filter(Boolean)),
  marked: "[data-advice], [data-task]",
  markedBy: ["advice", "task"],
  news: (last) => t(`advice.live.${last.type.replace("advice.", "")}`),
  failed: t("advice.live.failed"),
  everyMs: OVERDUE_CHECK_MS,
});
