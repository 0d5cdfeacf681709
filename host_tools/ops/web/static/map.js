// The fleet map: Leaflet (from the pinned XStatic-Leaflet package) for pan, zoom and an
// optional tile background, and one canvas layer of ours that draws every post as a dot
// coloured by its state. Zoomed out, posts are binned into 48-pixel cells drawn as one
// circle with the count and the colour of the worst state in it: 100,000 posts stay one
// canvas and a few thousand circles, never 100,000 DOM markers. A cluster is a donut of
// its states' shares, ringed in the colour of the worst state in it.
(function () {
  "use strict";
  var COLORS = ["#d62728", "#ff7f0e", "#8c8c8c", "#f2c200", "#1f3b73"]; // alarm order offline lit dark
  var STATES = ["alarm", "order", "offline", "lit", "dark"];
  var CELL = 48, DETAIL_ZOOM = 17;
  var el = document.getElementById("map");
  var map = L.map(el, {preferCanvas: true, zoomControl: true, attributionControl: true});
  var tiles = el.getAttribute("data-tile-url");
  if (tiles) { L.tileLayer(tiles, {attribution: el.getAttribute("data-tile-attribution") || "", maxZoom: 20}).addTo(map); }
  var data = {id: [], s: [], x: new Float64Array(0), y: new Float64Array(0)};
  var index = {};
  var cells = [];  // drawn clusters of the last frame, for clicks

  var Dots = L.Layer.extend({
    onAdd: function (m) {
      this._c = L.DomUtil.create("canvas", "dots leaflet-zoom-hide");
      m.getPanes().overlayPane.appendChild(this._c);
      m.on("moveend zoomend resize viewreset", this.redraw, this);
      this.redraw();
    },
    onRemove: function (m) { this._c.remove(); m.off("moveend zoomend resize viewreset", this.redraw, this); },
    redraw: function () {
      var m = this._map, size = m.getSize(), c = this._c, dpr = window.devicePixelRatio || 1;
      var tl = m.containerPointToLayerPoint([0, 0]);
      L.DomUtil.setPosition(c, tl);
      c.width = size.x * dpr; c.height = size.y * dpr;
      c.style.width = size.x + "px"; c.style.height = size.y + "px";
      var g = c.getContext("2d");
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, size.x, size.y);
      var z = m.getZoom(), k = Math.pow(2, z), o = m.getPixelOrigin();
      var ox = o.x + tl.x, oy = o.y + tl.y, n = data.id.length, i, px, py;
      cells = [];
      if (z >= DETAIL_ZOOM || n < 2000) {
        for (var st = 4; st >= 0; st--) {  // the worst drawn last, on top
          g.fillStyle = COLORS[st];
          g.beginPath();
          for (i = 0; i < n; i++) {
            if (data.s[i] !== st) { continue; }
            px = data.x[i] * k - ox; py = data.y[i] * k - oy;
            if (px < -8 || py < -8 || px > size.x + 8 || py > size.y + 8) { continue; }
            g.moveTo(px + 5, py); g.arc(px, py, 5, 0, 6.2832);
          }
          g.fill();
        }
        g.strokeStyle = "#fff"; g.lineWidth = 1;
      } else {
        var bins = new Map();
        for (i = 0; i < n; i++) {
          px = data.x[i] * k - ox; py = data.y[i] * k - oy;
          if (px < -CELL || py < -CELL || px > size.x + CELL || py > size.y + CELL) { continue; }
          var key = Math.floor(px / CELL) * 65536 + Math.floor(py / CELL);
          var b = bins.get(key);
          if (!b) { b = {n: 0, sx: 0, sy: 0, worst: 9, i: i, by: [0, 0, 0, 0, 0]}; bins.set(key, b); }
          b.n++; b.sx += px; b.sy += py; b.by[data.s[i]]++;
          if (data.s[i] < b.worst) { b.worst = data.s[i]; b.i = i; }
        }
        g.font = "11px sans-serif"; g.textAlign = "center"; g.textBaseline = "middle";
        // the worst drawn last, on top: a neighbour never covers the ring of a cluster in alarm
        Array.from(bins.values()).sort(function (a, b) { return b.worst - a.worst; }).forEach(function (b) {
          var cx = b.sx / b.n, cy = b.sy / b.n, r = b.n === 1 ? 5 : Math.min(22, 9 + 2.5 * Math.log(b.n));
          if (b.n === 1) { cx = data.x[b.i] * k - ox; cy = data.y[b.i] * k - oy; }
          if (b.n === 1) {
            g.fillStyle = COLORS[b.worst];
            g.beginPath(); g.arc(cx, cy, r, 0, 6.2832); g.fill();
          } else {  // a donut: each state's share, ringed in the worst state's colour
            var a0 = -Math.PI / 2;
            for (var s = 0; s < 5; s++) {
              if (!b.by[s]) { continue; }
              var a1 = a0 + 2 * Math.PI * b.by[s] / b.n;
              g.fillStyle = COLORS[s];
              g.beginPath(); g.moveTo(cx, cy); g.arc(cx, cy, r, a0, a1); g.closePath(); g.fill();
              a0 = a1;
            }
            g.strokeStyle = COLORS[b.worst]; g.lineWidth = 3;
            g.beginPath(); g.arc(cx, cy, r + 1.5, 0, 6.2832); g.stroke();
            g.fillStyle = "#fff";
            g.beginPath(); g.arc(cx, cy, r * 0.58, 0, 6.2832); g.fill();
            g.fillStyle = "#000"; g.fillText(String(b.n), cx, cy);
          }
          cells.push({x: cx, y: cy, r: r, n: b.n, i: b.i});
        });
      }
      el.dataset.rendered = String(n);
      if (!window.lamppostMap.renderedAt) { window.lamppostMap.renderedAt = performance.now(); }
    }
  });
  var dots = new Dots();

  function load() {
    var q = new URLSearchParams(new FormData(document.getElementById("filters")));
    var t0 = performance.now();
    return fetch("/api/v1/fleet?" + q.toString(), {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (f) {
        window.lamppostMap.fetchedAt = performance.now();
        var p = f.posts, n = p.id.length, x = new Float64Array(n), y = new Float64Array(n);
        index = {};
        for (var i = 0; i < n; i++) {
          var pt = L.CRS.EPSG3857.latLngToPoint(L.latLng(p.lat[i], p.lon[i]), 0);
          x[i] = pt.x; y[i] = pt.y; index[p.id[i]] = i;
        }
        data = {id: p.id, s: p.s, x: x, y: y, lat: p.lat, lon: p.lon};
        document.getElementById("counts").textContent = STATES.map(function (s) {
          return f.counts[s] + " " + s; }).join(" · ");
        if (n && !window.lamppostMap.fitted) {
          var b = L.latLngBounds(p.lat.map(function (la, j) { return [la, p.lon[j]]; }));
          map.fitBounds(b.pad(0.1), {maxZoom: 18});
          window.lamppostMap.fitted = true;
        } else if (!n && !window.lamppostMap.fitted) { map.setView([52.1, 5.1], 8); }
        if (!map.hasLayer(dots)) { dots.addTo(map); } else { dots.redraw(); }
        window.lamppostMap.loadMs = performance.now() - t0;
      });
  }

  map.on("click", function (e) {
    var cp = e.containerPoint, best = null, bd = 1e9;
    if (cells.length) {
      cells.forEach(function (c) { var d = Math.hypot(c.x - cp.x, c.y - cp.y); if (d <= c.r + 3 && d < bd) { bd = d; best = c; } });
      if (!best) { return; }
      if (best.n > 1) { map.setView(map.containerPointToLatLng([best.x, best.y]), Math.min(map.getZoom() + 2, 19)); return; }
      window.location = "/posts/" + encodeURIComponent(data.id[best.i]); return;
    }
    var k = Math.pow(2, map.getZoom()), o = map.getPixelOrigin(), tl = map.containerPointToLayerPoint([0, 0]);
    for (var i = 0; i < data.id.length; i++) {
      var d = Math.hypot(data.x[i] * k - o.x - tl.x - cp.x, data.y[i] * k - o.y - tl.y - cp.y);
      if (d < bd) { bd = d; best = i; }
    }
    if (best !== null && bd <= 8) { window.location = "/posts/" + encodeURIComponent(data.id[best]); }
  });

  window.addEventListener("lamppost:event", function (e) {
    var st = e.detail.post_states || {}, changed = false;
    Object.keys(st).forEach(function (pid) {
      var i = index[pid];
      if (i !== undefined && st[pid]) { data.s[i] = STATES.indexOf(st[pid]); changed = true; }
    });
    if (changed) { dots.redraw(); }
  });
  document.getElementById("filters").addEventListener("change", function () { load(); });

  window.lamppostMap = {
    map: map,
    stateOf: function (pid) { var i = index[pid]; return i === undefined ? null : STATES[data.s[i]]; },
    // the colour drawn at a post's position, read back from the canvas (what a person sees)
    pixelAt: function (pid) {
      var i = index[pid]; if (i === undefined) { return null; }
      var cp = map.latLngToContainerPoint([data.lat[i], data.lon[i]]), c = dots._c, dpr = window.devicePixelRatio || 1;
      var px = c.getContext("2d").getImageData(Math.round(cp.x * dpr), Math.round(cp.y * dpr), 1, 1).data;
      return [px[0], px[1], px[2]];
    },
    // the clusters of the last frame: {n posts, worst state, centre x, y and radius in pixels}
    clusters: function () {
      return cells.map(function (c) { return {n: c.n, worst: STATES[data.s[c.i]], x: c.x, y: c.y, r: c.r}; });
    },
    reload: load
  };
  load();
})();
