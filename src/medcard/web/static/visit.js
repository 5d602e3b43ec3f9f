// The visit form's ICD-10 picker: the field keeps its own name in the form, but asks the picker
// endpoint with ?q= (what /app/terminology/icd10 takes). Nothing else is done in the browser.
(function () {
  "use strict";
  document.addEventListener("htmx:configRequest", function (event) {
    var el = event.detail.elt;
    if (el && el.hasAttribute && el.hasAttribute("data-icd10-picker")) {
      event.detail.parameters = { q: el.value };
    }
  });
})();
