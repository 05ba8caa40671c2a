// Follow a run: swap in the status partial every 2 s until the run is final.
(function poll() {
  setTimeout(async () => {
    const r = await fetch(location.pathname, {headers: {"X-Partial": "1"}});
    const box = document.getElementById("run-status");
    box.innerHTML = await r.text();
    const state = box.querySelector("[data-run-state]").dataset.runState;
    box.dataset.state = state;
    if (state !== "done" && state !== "failed") poll();
  }, 2000);
})();
