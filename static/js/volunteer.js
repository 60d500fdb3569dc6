/* "Sort by distance from me": the phone's position, then the list again from the server. */
(function () {
  "use strict";
  var button = document.getElementById("near-me");
  if (!button || !("geolocation" in navigator) || !window.htmx) return;
  button.addEventListener("click", function () {
    navigator.geolocation.getCurrentPosition(function (pos) {
      var url = button.dataset.url + "?lat=" + pos.coords.latitude.toFixed(6) + "&lon=" + pos.coords.longitude.toFixed(6);
      window.htmx.ajax("GET", url, { target: "#claimable" });
    });
  });
})();
