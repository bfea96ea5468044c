// Keeps the referral list current (/referrals: a hospital's incoming referrals, a home's residents'
// ones) on `referral.*` news (bridge/referrals/tracking.py); how: live-list.js.

import { loadStrings, translator } from "./signal.js";
import { keepListCurrent } from "./live-list.js";

const t = translator(loadStrings("referral-strings"));
const idOf = (message) => String(message.service_request || "").replace("ServiceRequest/", "");

keepListCurrent({
  name: "referral",
  root: document.getElementById("referrals-live"),
  accepts: (message) => typeof message.type === "string" && message.type.startsWith("referral."),
  changed: (messages) => new Set(messages.map(idOf)),
  marked: "[data-referral]",
  markedBy: ["referral"],
  news: (last) =>
    last.type === "referral.requested"
      ? t("referral.live.requested")
      : t("referral.live.changed", { status: t(`referral.status.${last.status}`) }),
  failed: t("referral.live.failed"),
});
