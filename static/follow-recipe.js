// Follow a recipe's plan and runs: reload while a worker is still on them (not while the user has the
// tensor table open). The delay in ms comes from the script tag's data-reload-after.
(() => {
  const delay = Number(document.currentScript.dataset.reloadAfter);
  setTimeout(() => { if (!document.querySelector("details[open]")) location.reload(); }, delay);
})();
