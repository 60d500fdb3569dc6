/* Reads the GPS position from a JPEG's EXIF block, without a library: only the first 128 KB are read.
   window.CitizenGridExif.readGps(file) resolves to {lat, lon} or null. */
(() => {
  "use strict";
  async function readGps(file) {
    try {
      return parse(await file.slice(0, 131072).arrayBuffer());
    } catch {
      return null;
    }
  }
  function parse(buffer) {
    let view = new DataView(buffer);
    if (view.byteLength < 4 || view.getUint16(0) !== 0xffd8) return null;
    let offset = 2;
    while (offset + 4 <= view.byteLength) {
      let marker = view.getUint16(offset);
      let length = view.getUint16(offset + 2);
      if (marker === 0xffe1 && view.getUint32(offset + 4) === 0x45786966) return tiff(view, offset + 10);
      if ((marker & 0xff00) !== 0xff00 || marker === 0xffda) return null;
      offset += 2 + length;
    }
    return null;
  }
  function tiff(view, start) {
    let little = view.getUint16(start) === 0x4949;
    function u16(o) { return view.getUint16(start + o, little); }
    function u32(o) { return view.getUint32(start + o, little); }
    function entries(ifd) {
      let out = {}, count = u16(ifd);
      for (let i = 0; i < count; i++) {
        let e = ifd + 2 + i * 12;
        out[u16(e)] = { type: u16(e + 2), count: u32(e + 4), valueOffset: e + 8 };
      }
      return out;
    }
    function rationals(entry) {
      let at = u32(entry.valueOffset), values = [];
      for (let i = 0; i < entry.count; i++) {
        let den = u32(at + i * 8 + 4);
        values.push(den ? u32(at + i * 8) / den : NaN);
      }
      return values;
    }
    function ref(entry) { return String.fromCharCode(view.getUint8(start + entry.valueOffset)); }
    let ifd0 = entries(u32(4));
    if (!ifd0[0x8825]) return null;
    let gps = entries(u32(ifd0[0x8825].valueOffset));
    if (!gps[2] || !gps[4]) return null;
    function degrees(entry) { let v = rationals(entry); return v[0] + (v[1] || 0) / 60 + (v[2] || 0) / 3600; }
    let lat = degrees(gps[2]), lon = degrees(gps[4]);
    if (gps[1] && ref(gps[1]) === "S") lat = -lat;
    if (gps[3] && ref(gps[3]) === "W") lon = -lon;
    if (!isFinite(lat) || !isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180 || (lat === 0 && lon === 0)) return null;
    return { lat, lon };
  }
  window.CitizenGridExif = { readGps, parse };
})();
