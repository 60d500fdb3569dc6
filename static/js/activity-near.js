/* "Nearest first" on the activities list: the phone's position, rounded to about 100 m, goes into the filter
 * form's hidden fields and the list comes again from the server (htmx), ordered by distance; the filters keep the
 * order. Without a position (refused, no GPS) the list stays soonest first and says so. */
(() => {
  "use strict";
  const button = document.getElementById("act-near");
  if (!button || !("geolocation" in navigator)) return;
  const form = button.form;
  const status = document.getElementById("act-near-status");
  const say = (name) => { status.textContent = button.getAttribute(`data-msg-${name}`) || ""; };
  const field = (name) => form.querySelector(`input[type=hidden][name=${name}]`);
  button.hidden = false;
  button.addEventListener("click", () => {
    say("locating");
    navigator.geolocation.getCurrentPosition((position) => {
      const { latitude, longitude } = position.coords;
      field("lat").value = latitude.toFixed(3); // about 100 m: enough to order a city's activities
      field("lon").value = longitude.toFixed(3);
      for (const name of ["order", "lat", "lon"]) field(name).disabled = false;
      status.textContent = "";
      if (window.htmx) window.htmx.trigger(form, "change");
      else form.requestSubmit();
    }, () => say("denied"), { timeout: 15000, maximumAge: 300000 });
  });
})();
