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
