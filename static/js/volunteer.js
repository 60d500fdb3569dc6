/* "Sort by distance from me": the phone's position, rounded to about 100 m, and the list again from the server,
 * nearest first. Without a position (refused, no GPS) the list stays in the order the cases were opened and says
 * so. */
(() => {
  "use strict";
  const button = document.getElementById("near-me");
  const status = document.getElementById("near-me-status");
  if (!button || !status) return;
  const say = (name) => { status.textContent = button.getAttribute(`data-msg-${name}`) || ""; };
  button.addEventListener("click", () => {
    if (!("geolocation" in navigator)) {
      say("denied");
      return;
    }
    say("locating");
    navigator.geolocation.getCurrentPosition((position) => {
      const { latitude, longitude } = position.coords;
      // About 100 m: enough to order the cases of a city; the exact position never leaves the phone.
      const url = `${button.dataset.url}?lat=${latitude.toFixed(3)}&lon=${longitude.toFixed(3)}`;
      status.textContent = "";
      if (window.htmx) window.htmx.ajax("GET", url, { target: "#claimable" });
      else window.location.assign(url);
    }, () => say("denied"), { timeout: 15000, maximumAge: 300000 });
  });
})();
