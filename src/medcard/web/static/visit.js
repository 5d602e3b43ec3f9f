// The visit form's few lines of script. Nothing is computed here: the z-scores come from the server.
(function () {
  "use strict";
  // A field being corrected no longer shows the problem found at the last save (it is checked again then).
  document.addEventListener("input", function (event) {
    var el = event.target;
    if (el && el.getAttribute && el.getAttribute("aria-invalid") === "true" && el.id.indexOf("f-") === 0) {
      el.removeAttribute("aria-invalid");
      var problem = document.getElementById("e-" + el.id.slice(2));
      if (problem) { problem.hidden = true; }
    }
  });
  // «Повторить из прошлого приёма»: one section filled with that section's text from an earlier visit (kept in
  // a <template> beside it); a section holding that text unchanged stays marked until it is edited.
  function earlier(field) { return document.getElementById("was-" + field.name); }
  function mark(field) {
    var was = earlier(field);
    if (!was) { return; }
    var same = field.value.trim() === was.content.textContent.trim();
    field.classList.toggle("repeated", same);
    ["r-" + field.name, "fs-" + field.name + "-repeated"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { el.hidden = !same; }
    });
    var own = document.getElementById("fs-" + field.name + "-own");  // a folded section's state beside its title
    if (own) { own.hidden = same; }
    // The note describes the field only while it is true (a hidden note would still be read out).
    var ids = (field.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
      return id && id !== "r-" + field.name;
    });
    if (same) { ids.push("r-" + field.name); }
    if (ids.length) { field.setAttribute("aria-describedby", ids.join(" ")); } else { field.removeAttribute("aria-describedby"); }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-repeat-for]");
    if (!button) { return; }
    var field = document.getElementById(button.getAttribute("data-repeat-for"));
    var was = field && earlier(field);
    if (!was) { return; }
    field.value = was.content.textContent;
    mark(field);
    field.focus();
    field.dispatchEvent(new Event("change", { bubbles: true }));  // the draft keeps it
  });
  document.addEventListener("input", function (event) {
    if (event.target && event.target.tagName === "TEXTAREA") { mark(event.target); }
  });
  // The ICD-10 picker: the field keeps its own name in the form, but asks /app/terminology/icd10 with ?q=.
  document.addEventListener("htmx:configRequest", function (event) {
    var el = event.detail.elt;
    if (el && el.hasAttribute && el.hasAttribute("data-icd10-picker")) {
      event.detail.parameters = { q: el.value };
    }
  });
  function options(input) { return document.getElementById(input.id + "-options"); }
  // Choosing an option puts "code title" in its field, closes the list and lets the draft keep it.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-icd10-for] a[data-code]");
    if (!link) { return; }
    event.preventDefault();
    var box = link.closest("[data-icd10-for]");
    var input = document.getElementById(box.getAttribute("data-icd10-for"));
    input.value = link.getAttribute("data-code") + " " + link.getAttribute("data-title");
    box.innerHTML = "";
    input.focus();
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
  // Arrow down from the field goes to its options (app.js moves through them); Escape closes them.
  document.addEventListener("keydown", function (event) {
    var el = event.target;
    if (!el.hasAttribute || !el.hasAttribute("data-icd10-picker")) { return; }
    var box = options(el);
    var first = box && box.querySelector("a[data-code]");
    if (event.key === "ArrowDown" && first) { event.preventDefault(); first.focus(); }
    if (event.key === "Escape" && box) { box.innerHTML = ""; }
  });
  // One list open at a time: moving to another diagnosis field closes the others'.
  document.addEventListener("focusin", function (event) {
    var el = event.target;
    if (!el.hasAttribute || !el.hasAttribute("data-icd10-picker")) { return; }
    Array.prototype.forEach.call(document.querySelectorAll("[data-icd10-for]"), function (box) {
      if (box.getAttribute("data-icd10-for") !== el.id) { box.innerHTML = ""; }
    });
  });
})();
