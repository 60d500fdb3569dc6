/* Check-in with a radius: fill in the phone's position before the form is sent. */
(() => {
  "use strict";
  const lat = document.getElementById("act-lat");
  const lon = document.getElementById("act-lon");
  if (!lat || !lon || !navigator.geolocation) return;
  navigator.geolocation.getCurrentPosition((position) => {
    lat.value = position.coords.latitude.toFixed(6);
    lon.value = position.coords.longitude.toFixed(6);
  }, () => { /* refused or unavailable: the server says why check-in needs it */ },
  { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
})();
