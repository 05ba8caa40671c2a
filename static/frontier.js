// Draws the frontier figure that the server built with plotly (JSON in #frontier-figure) and makes a point
// open its recipe. Selecting another profile or metric reloads the page with the new query.
(function () {
  const box = document.getElementById("frontier-chart");
  const data = document.getElementById("frontier-figure");
  if (box && data && window.Plotly) {
    const figure = JSON.parse(data.textContent);
    const narrow = window.innerWidth < 600;
    if (narrow) {
      figure.layout.height = 380;
      figure.layout.margin = {l: 48, r: 6, t: 6, b: 40};
    }
    // On a phone the mode bar would cover the top of the plot (and its highest point).
    Plotly.newPlot(box, figure.data, figure.layout, {responsive: true, displaylogo: false, displayModeBar: !narrow}).then(() => {
      box.dataset.drawn = "1";
    });
    box.on("plotly_click", (event) => {
      const point = event.points && event.points[0];
      if (point && point.customdata) window.location.href = point.customdata[0];
    });
  }
  for (const id of ["id_profile", "id_metric"]) {
    const select = document.getElementById(id);
    if (select) select.addEventListener("change", () => select.form.submit());
  }
})();
