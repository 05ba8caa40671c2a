// Follow a run (or an imatrix job: the same states at the end): swap in the status partial every 2 s until the run is final; a failed request is retried.
(function poll() {
  setTimeout(async () => {
    const box = document.getElementById("run-status");
    try {
      const r = await fetch(location.pathname, {headers: {"X-Partial": "1"}});
      if (r.ok) {
        box.innerHTML = await r.text();
        box.dataset.state = box.querySelector("[data-run-state]").dataset.runState;
      }
    } catch (e) {
      // the site is unreachable for a moment: keep the last status and try again
    }
    if (box.dataset.state !== "done" && box.dataset.state !== "failed") poll();
  }, 2000);
})();
