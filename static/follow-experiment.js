// Follow an experiment: while any arm has runs waiting, swap in its standing (progress, numbers, verdicts,
// pre-registration) every 2 s; a failed request is retried on the next tick instead of ending the loop.
(function poll() {
  const box = document.getElementById("experiment-standing");
  if (!box || box.firstElementChild.dataset.active !== "1") return;
  setTimeout(async () => {
    try {
      const r = await fetch(location.pathname, {headers: {"X-Partial": "1"}});
      if (r.ok) box.innerHTML = await r.text();
    } catch (e) {
      // the site is unreachable for a moment: keep the last standing and try again
    } finally {
      poll();
    }
  }, 2000);
})();
