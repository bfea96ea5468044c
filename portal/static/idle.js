// Warn a minute before the server ends an idle session, then go to the login page, so a bedside
// tablet left unattended does not keep showing residents' records.
const body = document.body;
const timeout = Number(body.dataset.idleTimeout || 0) * 1000;
if (timeout > 0) {
  const warning = document.getElementById("idle-warning");
  let warnTimer;
  let logoffTimer;
  const reset = () => {
    clearTimeout(warnTimer);
    clearTimeout(logoffTimer);
    if (warning) warning.hidden = true;
    warnTimer = setTimeout(() => { if (warning) warning.hidden = false; }, Math.max(timeout - 60000, 0));
    logoffTimer = setTimeout(() => {
      window.location.assign("/login?reason=idle&next=" + encodeURIComponent(window.location.pathname));
    }, timeout + 1000);
  };
  ["pointerdown", "keydown"].forEach((name) => document.addEventListener(name, reset, { passive: true }));
  reset();
}
