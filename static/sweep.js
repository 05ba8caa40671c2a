// Draws the sweep's figures (built by the server with plotly, JSON in the page), reloads on another metric,
// and follows the sweep while it plans or runs: its status swaps in every 2 s, and the page reloads (to draw
// the chart with the new points) when a variant has been measured. A failed request is retried next tick.
(function () {
  const narrow = window.innerWidth < 600;
  const figures = [["sweep-chart", "sweep-figure"], ["sweep-heat-map", "sweep-heat-map-figure"]];
  document.querySelectorAll(".depth-chart").forEach((el) => figures.push([el.id, el.id + "-figure"]));
  for (const [boxId, dataId] of figures) {
    const box = document.getElementById(boxId), data = document.getElementById(dataId);
    if (!box || !data || !window.Plotly) continue;
    const figure = JSON.parse(data.textContent);
    if (narrow) figure.layout.margin = {l: 48, r: 6, t: 6, b: 40};
    Plotly.newPlot(box, figure.data, figure.layout, {responsive: true, displaylogo: false, displayModeBar: !narrow})
      .then(() => { box.dataset.drawn = "1"; });
  }
  const metric = document.getElementById("id_metric");
  if (metric) metric.addEventListener("change", () => metric.form.submit());

  const box = document.getElementById("sweep-status");
  // a tensor name is one long word: let it wrap after its dots on a narrow screen (a <wbr> is not copied)
  const breakableNames = (root) => {
    for (const code of root.querySelectorAll("td code")) {
      const parts = code.textContent.split(/(?<=\.)/);
      code.replaceChildren(...parts.flatMap((part, i) => i ? [document.createElement("wbr"), part] : [part]));
    }
  };
  if (box) breakableNames(box);
  const progressOf = (root) => (root.querySelector("#sweep-progress") || {}).textContent || "";
  (function poll() {
    if (!box || box.firstElementChild.dataset.active !== "1") return;
    setTimeout(async () => {
      try {
        const r = await fetch(location.pathname + location.search, {headers: {"X-Partial": "1"}});
        if (r.ok) {
          const before = progressOf(box);
          box.innerHTML = await r.text();
          breakableNames(box);
          if (progressOf(box) !== before && before !== "") { location.reload(); return; }
        }
      } catch (e) {
        // the site is unreachable for a moment: keep the last status and try again
      }
      poll();
    }, 2000);
  })();
})();
