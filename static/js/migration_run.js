// The migration run page: while the run is in progress, polls its status JSON every second and updates each
// migration's state, the lock holder and the run's state; when the run ends, reloads the page for its outcome.
(function () {
  "use strict";
  const run = document.getElementById("run");
  if (!run || run.dataset.state !== "running") return;
  const url = run.dataset.status;
  function setBadge(el, state) {
    el.textContent = state;
    el.className = "badge badge-" + state.replace(/ /g, "_");
  }
  async function poll() {
    let s;
    try {
      const r = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!r.ok) throw new Error(String(r.status));
      s = await r.json();
    } catch (e) {
      setTimeout(poll, 2000);
      return;
    }
    if (s.state !== "running") {
      window.location.reload();
      return;
    }
    setBadge(document.getElementById("run-state"), s.state);
    const waiting = document.getElementById("run-waiting");
    waiting.hidden = !s.waiting;
    waiting.textContent = s.waiting || "";
    for (const step of s.steps) {
      const row = document.querySelector('#run-steps tr[data-revision="' + CSS.escape(step.revision) + '"]');
      if (!row) continue;
      setBadge(row.cells[2].querySelector(".badge"), step.state);
      row.cells[3].textContent = step.duration_ms == null ? "—" : step.duration_ms + " ms";
      row.cells[4].textContent = step.error || "—";
    }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 500);
})();
