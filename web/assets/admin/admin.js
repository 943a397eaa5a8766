// The admin console's few lines of script. Everything works without it; it only adds keyboard
// shortcuts for tables: j/k move between rows, Enter opens the focused row's first link.
(function () {
  "use strict";
  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("table.rows tbody tr"));
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (target && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(target.tagName)) return;
    var list = rows();
    if (list.length === 0) return;
    var current = list.indexOf(document.activeElement);
    if (event.key === "j" || event.key === "k") {
      var next = event.key === "j" ? Math.min(current + 1, list.length - 1) : Math.max(current - 1, 0);
      list.forEach(function (row) { row.setAttribute("tabindex", "-1"); });
      list[next].setAttribute("tabindex", "0");
      list[next].focus();
      event.preventDefault();
    } else if (event.key === "Enter" && current >= 0) {
      var link = list[current].querySelector("a[href]");
      if (link) { link.click(); event.preventDefault(); }
    }
  });
})();

// Live panels (the overview's, refreshed by htmx): a refresh waits while the keyboard focus is
// inside them, so it is never lost mid-table; it is skipped while the tab is hidden (nobody
// reads it, and the requests would only load the server); and the panels' one-line summary is
// copied into the page's polite live region only when it changes, so screen readers hear news,
// not a repeat every few seconds. A refresh that finds the session ended is answered with
// HX-Redirect, which htmx follows to the sign-in page by itself.
(function () {
  "use strict";
  function polls(element) {
    var trigger = element && element.getAttribute && element.getAttribute("hx-trigger");
    return !!trigger && /(^|,)\s*every\s/.test(trigger);
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (document.hidden && polls(event.detail.elt)) {
      event.preventDefault();
    }
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var active = document.activeElement;
    if (target && active && active !== document.body && target.contains(active)) {
      event.detail.shouldSwap = false;
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var region = document.getElementById("overview-announcer");
    var source = event.detail.target && event.detail.target.querySelector("[data-live-summary]");
    if (!region || !source) return;
    var text = source.textContent.trim();
    if (region.getAttribute("data-last") !== text) {
      region.setAttribute("data-last", text);
      region.textContent = text;
    }
  });
})();
