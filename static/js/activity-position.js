/* Check-in with a radius: fill in the phone's position before the form is sent. */
(function () {
  "use strict";
  var lat = document.getElementById("act-lat");
  var lon = document.getElementById("act-lon");
  if (!lat || !lon || !navigator.geolocation) return;
  navigator.geolocation.getCurrentPosition(function (position) {
    lat.value = position.coords.latitude.toFixed(6);
    lon.value = position.coords.longitude.toFixed(6);
  }, function () { /* refused or unavailable: the server says why check-in needs it */ },
  { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
})();
