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
  // The ICD-10 picker: the field keeps its own name in the form, but asks /app/terminology/icd10 with ?q=.
  document.addEventListener("htmx:configRequest", function (event) {
    var el = event.detail.elt;
    if (el && el.hasAttribute && el.hasAttribute("data-icd10-picker")) {
      event.detail.parameters = { q: el.value };
    }
  });
})();
