// Submit the form when a control changes. A new citizenship or region may not have the
// current component (or region), so those fall back to the server's defaults.
(function () {
  "use strict";
  var form = document.getElementById("controls");
  if (!form) {
    return;
  }
  var region = document.getElementById("region");
  var component = document.getElementById("component");
  function submitWithout(fields) {
    fields.forEach(function (field) {
      field.disabled = true; // a disabled control is left out of the query string
    });
    form.submit();
  }
  document.getElementById("citizenship").addEventListener("change", function () {
    submitWithout([region, component]);
  });
  region.addEventListener("change", function () {
    submitWithout([component]);
  });
  component.addEventListener("change", function () {
    submitWithout([]);
  });
})();
