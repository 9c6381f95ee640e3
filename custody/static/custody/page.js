/* Every page: the small behaviours that used to be inline handlers, which the
 * Content-Security-Policy (no inline script) no longer runs. */
"use strict";
document.addEventListener("change", function (event) {
  var field = event.target;
  if (field.matches && field.matches("select[data-submit-on-change]") && field.form) {
    field.form.submit();
  }
});
