// Follow a plan or runs that a worker is still on: reload the page every data-every ms, except while
// the reader has a <details> open (scrolling the tensor table) — then wait for the next tick.
(function () {
  const every = Number(document.currentScript.dataset.every || 5000);
  setInterval(() => { if (!document.querySelector("details[open]")) location.reload(); }, every);
})();
