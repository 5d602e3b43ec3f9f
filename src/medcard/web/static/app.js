// medcard pages: keyboard shortcuts. "/" focuses the search box; arrow keys move through results.
(function () {
  "use strict";
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    var active = document.activeElement;
    if (event.key === "/" && !typing(active)) {
      var search = document.querySelector("[data-search]");
      if (search) { event.preventDefault(); search.focus(); search.select(); }
      return;
    }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") { return; }
    var list = document.querySelector("[data-results]");
    if (!list) { return; }
    var links = Array.prototype.slice.call(list.querySelectorAll("a"));
    if (!links.length) { return; }
    var index = links.indexOf(active);
    var fromSearch = active && active.hasAttribute && active.hasAttribute("data-search");
    if (index < 0 && !fromSearch) { return; }
    event.preventDefault();
    if (event.key === "ArrowDown") {
      links[Math.min(index + 1, links.length - 1)].focus();
    } else if (index <= 0) {
      var box = document.querySelector("[data-search]");
      if (box) { box.focus(); }
    } else {
      links[index - 1].focus();
    }
  });
})();
