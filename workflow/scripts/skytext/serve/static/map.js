// The interactive UMAP: points coloured by a chosen column, hover shows the object, click opens its page.
(function () {
  var el = document.getElementById("map");
  if (!el) return;
  var select = document.getElementById("colour"), note = document.getElementById("mapnote");
  fetch(el.dataset.src).then(function (r) { return r.json(); }).then(function (d) {
    if (d.error) { note.textContent = d.error; return; }
    note.textContent = d.ids.length + " objects; coordinates: " + d.source;
    Object.keys(d.colours).forEach(function (name) {
      var o = document.createElement("option"); o.value = name; o.textContent = name; select.appendChild(o);
    });
    function traces(name) {
      var c = d.colours[name];
      if (!c) return [{x: d.x, y: d.y, text: d.hover, customdata: d.urls, mode: "markers", type: "scatter",
                       hoverinfo: "text", marker: {size: 7}}];
      if (c.kind === "number") {
        return [{x: d.x, y: d.y, text: d.hover.map(function (h, i) { return h + "<br>" + name + ": " + c.values[i]; }),
                 customdata: d.urls, mode: "markers", type: "scatter", hoverinfo: "text",
                 marker: {size: 7, color: c.values, colorscale: "Viridis", showscale: true, colorbar: {title: name}}}];
      }
      var groups = {};
      c.values.forEach(function (v, i) { (groups[v] = groups[v] || []).push(i); });
      return Object.keys(groups).sort().map(function (v) {
        var idx = groups[v];
        return {name: v, x: idx.map(function (i) { return d.x[i]; }), y: idx.map(function (i) { return d.y[i]; }),
                text: idx.map(function (i) { return d.hover[i]; }), customdata: idx.map(function (i) { return d.urls[i]; }),
                mode: "markers", type: "scatter", hoverinfo: "text", marker: {size: 7}};
      });
    }
    var layout = {hovermode: "closest", margin: {t: 20}, xaxis: {title: "UMAP 1"}, yaxis: {title: "UMAP 2"}};
    function draw() { Plotly.react(el, traces(select.value), layout, {responsive: true}); }
    select.addEventListener("change", draw);
    draw();
    el.on("plotly_click", function (ev) {
      var url = ev.points && ev.points[0] && ev.points[0].customdata;
      if (url) window.location.href = url;
    });
    el.dataset.ready = "1";
  }).catch(function (e) { note.textContent = "map failed: " + e; });
})();
