/* "Sort by distance from me": the phone's position, then the list again from the server. */
(() => {
  "use strict";
  const button = document.getElementById("near-me");
  if (!button || !("geolocation" in navigator) || !window.htmx) return;
  button.addEventListener("click", () => {
    navigator.geolocation.getCurrentPosition((pos) => {
      const { latitude, longitude } = pos.coords;
      const url = `${button.dataset.url}?lat=${latitude.toFixed(6)}&lon=${longitude.toFixed(6)}`;
      window.htmx.ajax("GET", url, { target: "#claimable" });
    });
  });
})();
