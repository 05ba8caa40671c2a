// Follow an experiment: while any arm has runs waiting, swap in its standing (progress, numbers, verdicts) every 2 s.
(function poll() {
  const box = document.getElementById("experiment-standing");
  if (!box || box.firstElementChild.dataset.active !== "1") return;
  setTimeout(async () => {
    const r = await fetch(location.pathname, {headers: {"X-Partial": "1"}});
    if (r.ok) box.innerHTML = await r.text();
    poll();
  }, 2000);
})();
