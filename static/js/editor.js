// The query editor's small helpers: Ctrl/Cmd+Enter runs, Tab indents, the text survives reloads, Cancel stops a run.
(function () {
  "use strict";
  var form = document.getElementById("editor-form");
  var sql = document.getElementById("sql");
  if (!form || !sql) return;
  var KEY = "strata.query.text";

  if (!sql.value && window.localStorage) {
    sql.value = localStorage.getItem(KEY) || "";
  }
  sql.addEventListener("input", function () {
    if (window.localStorage) localStorage.setItem(KEY, sql.value);
  });

  sql.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
      e.preventDefault();
      var start = sql.selectionStart, end = sql.selectionEnd;
      if (end > start) {
        // Run only the selection: send it in place of the whole text, keep the text in the box.
        var hidden = document.createElement("input");
        hidden.type = "hidden"; hidden.name = "sql"; hidden.value = sql.value.slice(start, end);
        sql.removeAttribute("name");
        form.appendChild(hidden);
      }
      form.requestSubmit(document.getElementById("run"));
    } else if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey) {
      e.preventDefault();
      var s = sql.selectionStart;
      sql.setRangeText("  ", s, sql.selectionEnd, "end");
    }
  });

  var cancel = document.getElementById("cancel");
  var running = document.getElementById("running");
  form.addEventListener("submit", function (e) {
    var isExport = e.submitter && e.submitter.getAttribute("formaction");
    if (isExport) return;
    if (window.localStorage) localStorage.setItem(KEY, sql.value);
    cancel.hidden = false;
    running.hidden = false;
  });
  cancel.addEventListener("click", function () {
    var body = new URLSearchParams();
    body.set("_csrf", form.querySelector("input[name=_csrf]").value);
    fetch(cancel.dataset.cancel, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (t) { running.textContent = "Cancel: " + t; });
  });
})();
