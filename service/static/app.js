// Submit the form when a control changes. A new citizenship or region may not have the
// current component (or region), so those fall back to the server's defaults.
// The indicator panel is rendered only where its chart exists; should the chart
// still fail to load (the data changed since the page was drawn), the panel goes.
(function () {
  "use strict";
  var panel = document.getElementById("indicators");
  var indicatorChart = document.getElementById("indicator-chart");
  function hidePanel() {
    panel.hidden = true;
  }
  if (panel && indicatorChart) {
    if (indicatorChart.complete && indicatorChart.naturalWidth === 0) {
      hidePanel();
    }
    indicatorChart.addEventListener("error", hidePanel);
  }
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
