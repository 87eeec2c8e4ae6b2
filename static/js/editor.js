// The query editor: highlighting, line numbers, name completion, error marks, Ctrl/Cmd+Enter, Tab, Cancel.
(function () {
  "use strict";
  var form = document.getElementById("editor-form");
  var sql = document.getElementById("sql");
  if (!form || !sql) return;
  var KEY = "strata.query.text";
  var csrf = form.querySelector("input[name=_csrf]").value;
  var cancel = document.getElementById("cancel");
  var running = document.getElementById("running");

  if (!sql.value && window.localStorage) sql.value = localStorage.getItem(KEY) || "";
  function save() {
    if (window.localStorage) localStorage.setItem(KEY, sql.value);
  }

  // The overlay: the textarea (still the form field) keeps the caret and selection with transparent text,
  // over a <pre> that shows the same text coloured, in the same font and box; a gutter numbers the lines.
  var box = el("div", "code"), gutter = el("pre", "gutter"), area = el("div", "code-area");
  var hl = el("pre", "highlight"), popup = el("ul", "completions");
  gutter.setAttribute("aria-hidden", "true");
  hl.setAttribute("aria-hidden", "true");
  popup.setAttribute("role", "listbox");
  popup.hidden = true;
  sql.parentNode.insertBefore(box, sql);
  area.append(hl, sql, popup);
  box.append(gutter, area);
  sql.setAttribute("wrap", "off");
  function el(tag, cls) {
    var e = document.createElement(tag);
    e.className = cls;
    return e;
  }

  var KEYWORDS = new Set(("select from where and or not null is in as on join left right inner outer full cross " +
    "natural using group by order having limit offset fetch union intersect except all distinct insert into values " +
    "update set delete create alter drop table view index sequence schema database if exists primary key foreign " +
    "references unique check default constraint begin commit rollback transaction with recursive case when then " +
    "else end returning explain analyze asc desc like ilike between true false cast grant revoke truncate lateral " +
    "window over partition filter function returns language replace trigger for each row execute procedure show " +
    "user current_user any some array interval collate").split(" "));
  // One alternative per kind: comment, block comment, dollar-quoted string, string, quoted identifier, number, word.
  var TOKEN = new RegExp([
    /(--[^\n]*)/.source, /(\/\*[\s\S]*?(?:\*\/|$))/.source, /(\$([A-Za-z_]\w*)?\$[\s\S]*?(?:\$\4\$|$))/.source,
    /('(?:[^']|'')*(?:'|$))/.source, /("(?:[^"]|"")*(?:"|$)|`(?:[^`]|``)*(?:`|$))/.source,
    /(\b\d+(?:\.\d*)?(?:[eE][+-]?\d+)?\b|\.\d+\b)/.source, /([A-Za-z_][\w$]*)/.source].join("|"), "g");
  var KIND = { 1: "c", 2: "c", 3: "s", 5: "s", 6: "q", 7: "n" };

  function tokens(text) {
    var out = [], m;
    TOKEN.lastIndex = 0;
    while ((m = TOKEN.exec(text))) {
      var kind = "w";
      for (var g in KIND) if (m[g] !== undefined) kind = KIND[g];
      if (kind === "w" && KEYWORDS.has(m[0].toLowerCase())) kind = "k";
      out.push({ start: m.index, end: m.index + m[0].length, kind: kind });
    }
    return out;
  }

  // The error the server reported, as a range of the text: the token at its position (or the last one before
  // it when it points at blanks or the end). It goes away with the first edit.
  var mark = null;
  function markAt(at, toks) {
    var text = sql.value;
    while (at > 0 && (at >= text.length || /\s/.test(text[at]))) at--;
    for (var i = 0; i < toks.length; i++) if (toks[i].start <= at && at < toks[i].end) return toks[i];
    return { start: at, end: Math.min(at + 1, text.length) };
  }

  function esc(s) {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  }
  function paint() {
    var text = sql.value, toks = tokens(text), html = "", last = 0;
    function emit(a, b, kind) {
      // Split [a, b) where the error mark starts and ends, so that only its part is underlined.
      var cuts = [a, b];
      if (mark) cuts.push(Math.min(Math.max(mark.start, a), b), Math.min(Math.max(mark.end, a), b));
      cuts.sort(function (x, y) { return x - y; });
      for (var i = 0; i + 1 < cuts.length; i++) {
        if (cuts[i] === cuts[i + 1]) continue;
        var cls = (kind || "") + (mark && cuts[i] >= mark.start && cuts[i] < mark.end ? " err" : "");
        var part = esc(text.slice(cuts[i], cuts[i + 1]));
        html += cls.trim() ? '<span class="' + cls.trim() + '">' + part + "</span>" : part;
      }
    }
    toks.forEach(function (t) {
      emit(last, t.start, "");
      emit(t.start, t.end, t.kind === "w" ? "" : t.kind);
      last = t.end;
    });
    emit(last, text.length, "");
    hl.innerHTML = html + "\n ";  // the extra line: a trailing newline needs a line to stand on
    var lines = text.split("\n").length, numbers = "";
    if (gutter.dataset.lines !== String(lines)) {
      for (var n = 1; n <= lines; n++) numbers += n + "\n";
      gutter.textContent = numbers + " ";
      gutter.dataset.lines = lines;
    }
    scrolled();
  }
  function scrolled() {
    hl.scrollTop = gutter.scrollTop = sql.scrollTop;
    hl.scrollLeft = sql.scrollLeft;
  }

  var failed = document.querySelector(".result-error[data-line]");
  if (failed) {
    var at = offsetOf(+failed.dataset.line, +failed.dataset.column);
    if (at >= 0) {
      mark = markAt(at, tokens(sql.value));
      sql.scrollTop = Math.max(0, (+failed.dataset.line - 3) * lineHeight());
    }
  }
  // Line and column (1-based, columns in characters) to an index of the textarea's value.
  function offsetOf(line, column) {
    var text = sql.value, i = 0;
    for (var l = 1; l < line; l++) {
      i = text.indexOf("\n", i) + 1;
      if (i === 0) return -1;
    }
    for (var c = 1; c < column && i < text.length && text[i] !== "\n"; c++) i += text.codePointAt(i) > 0xffff ? 2 : 1;
    return i;
  }
  function lineHeight() {
    return parseFloat(getComputedStyle(sql).lineHeight) || 20;
  }
  paint();
  sql.addEventListener("scroll", scrolled);
  sql.addEventListener("input", function () {
    mark = null;
    paint();
    save();
    suggest();
  });

  // Completion of table and column names, read once from the catalog when the editor is first used.
  var names = null, quote = '"', items = [], active = 0, word = null;
  function loadNames() {
    if (names) return;
    names = [];
    fetch(document.body.dataset.base + "/query/names", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (n) {
        if (n) {
          names = n.tables;
          quote = n.quote;
          box.classList.add("names-ready");
        }
      })
      .catch(function () {});
  }
  sql.addEventListener("focus", loadNames);

  // The table a `word.` refers to: a table of that name, or one the text gives that alias (`FROM users u`).
  function tableNamed(w, text) {
    var lw = w.toLowerCase(), m;
    var found = names.find(function (t) { return t.name.toLowerCase() === lw; });
    var alias = /(?:\b(?:from|join|update|into)|,)\s*(?:[\w$]+\.)?([\w$]+)\s+(?:as\s+)?([\w$]+)/gi;
    while (!found && (m = alias.exec(text))) {
      if (m[2].toLowerCase() === lw) return tableNamed(m[1], "");
    }
    return found;
  }

  function suggest() {
    var caret = sql.selectionStart, text = sql.value;
    var typed = text.slice(Math.max(0, caret - 200), caret);
    var m = /(?<![\w$."`])(?:([A-Za-z_][\w$]*)\.)?([A-Za-z_][\w$]*)?$/.exec(typed);
    var inside = tokens(text.slice(0, caret)).pop();
    if (!names || !m || caret !== sql.selectionEnd || (inside && inside.end === caret && "csq".includes(inside.kind))) {
      return close();
    }
    var owner = m[1], prefix = (m[2] || "").toLowerCase(), seen = new Set(), found = [];
    function offer(label, detail) {
      if (label.toLowerCase().startsWith(prefix) && label.toLowerCase() !== prefix && !seen.has(label)) {
        seen.add(label);
        found.push({ label: label, detail: detail });
      }
    }
    if (owner) {
      var table = tableNamed(owner, text);
      if (table) table.columns.forEach(function (c) { offer(c, "column"); });
      names.forEach(function (t) { if (t.schema.toLowerCase() === owner.toLowerCase()) offer(t.name, "table"); });
    } else if (prefix) {
      names.forEach(function (t) { offer(t.name, "table"); });
      names.forEach(function (t) { t.columns.forEach(function (c) { offer(c, "column · " + t.name); }); });
    }
    items = found.slice(0, 12);
    if (!items.length) return close();
    word = { start: caret - prefix.length, end: caret };
    active = 0;
    show();
  }

  function show() {
    popup.innerHTML = "";
    items.forEach(function (it, i) {
      var li = el("li", i === active ? "active" : "");
      li.setAttribute("role", "option");
      li.append(it.label, Object.assign(el("span", "kind"), { textContent: it.detail }));
      li.addEventListener("mousedown", function (e) {
        e.preventDefault();  // keep the focus in the textarea
        accept(i);
      });
      popup.append(li);
    });
    // Under the word: its line and column times the line height and the width of one character.
    var before = sql.value.slice(0, word.start), line = before.split("\n").length - 1;
    var column = before.slice(before.lastIndexOf("\n") + 1).replace(/\t/g, "  ").length;
    var style = getComputedStyle(sql);
    popup.style.left = parseFloat(style.paddingLeft) + column * charWidth() - sql.scrollLeft + "px";
    popup.style.top = parseFloat(style.paddingTop) + (line + 1) * lineHeight() - sql.scrollTop + 2 + "px";
    popup.hidden = false;
    popup.children[active].scrollIntoView({ block: "nearest" });
  }
  var width = 0;
  function charWidth() {
    if (!width) {
      var probe = el("span", "");
      probe.textContent = "0".repeat(50);
      hl.append(probe);
      width = probe.getBoundingClientRect().width / 50;
      probe.remove();
    }
    return width;
  }
  function close() {
    items = [];
    popup.hidden = true;
  }
  function ident(name) {
    var plain = /^[A-Za-z_][\w$]*$/.test(name) && !KEYWORDS.has(name.toLowerCase());
    if (plain && (quote === "`" || name === name.toLowerCase())) return name;
    return quote + name.split(quote).join(quote + quote) + quote;
  }
  function accept(i) {
    sql.setRangeText(ident(items[i].label), word.start, word.end, "end");
    close();
    mark = null;
    paint();
    save();
  }
  sql.addEventListener("blur", close);
  sql.addEventListener("click", close);

  var selection = null;
  sql.addEventListener("keydown", function (e) {
    var plainKey = !e.ctrlKey && !e.altKey && !e.metaKey && !e.shiftKey;
    if (items.length && plainKey) {
      var moves = { ArrowDown: 1, ArrowUp: items.length - 1 };
      if (e.key in moves) {
        active = (active + moves[e.key]) % items.length;
        show();
      } else if (e.key === "Enter" || e.key === "Tab") {
        accept(active);
      } else if (e.key === "Escape") {
        close();
      } else {
        return;
      }
      e.preventDefault();
      return;
    }
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
      e.preventDefault();
      close();
      // Run only the selection: its place in the text goes along, so that error positions point into the text.
      var start = sql.selectionStart, end = sql.selectionEnd, text = sql.value;
      selection = end > start ? [chars(text.slice(0, start)), chars(text.slice(0, end))] : null;
      form.requestSubmit(document.getElementById("run"));
    } else if (e.key === "Tab" && plainKey) {
      e.preventDefault();
      sql.setRangeText("  ", sql.selectionStart, sql.selectionEnd, "end");
      paint();
      save();
    }
  });
  function chars(s) {
    return Array.from(s).length;  // code points, as the server counts; JS indices count UTF-16 units
  }

  // A run in flight is cancelled by the Cancel button, and by leaving the page (closing it, going elsewhere).
  var inFlight = false;
  form.addEventListener("submit", function (e) {
    form.querySelectorAll("input.selection").forEach(function (i) { i.remove(); });
    var action = (e.submitter && e.submitter.getAttribute("formaction")) || "";
    if (action.indexOf("/export") >= 0) return;  // an export downloads; the page stays
    if (selection && !action) {
      ["selection_start", "selection_end"].forEach(function (name, i) {
        form.append(Object.assign(el("input", "selection"), { type: "hidden", name: name, value: selection[i] }));
      });
      selection = null;
    }
    save();
    inFlight = true;
    cancel.hidden = false;
    running.hidden = false;
  });
  function cancelBody() {
    var body = new URLSearchParams();
    body.set("_csrf", csrf);
    return body;
  }
  cancel.addEventListener("click", function () {
    inFlight = false;
    fetch(cancel.dataset.cancel, { method: "POST", body: cancelBody(), credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (t) { running.textContent = "Cancel: " + t; });
  });
  // Not `beforeunload`: it fires when the run's own form is submitted. `pagehide` fires when this page goes
  // away; once the run's answer is the page replacing it, the run has ended and the beacon finds nothing to stop.
  window.addEventListener("pagehide", function () {
    if (inFlight) navigator.sendBeacon(cancel.dataset.cancel, cancelBody());
  });
  window.addEventListener("pageshow", function (e) {
    if (!e.persisted) return;  // back to this page from the cache: whatever ran from it is over
    inFlight = false;
    cancel.hidden = running.hidden = true;
  });
})();
