package replay

import (
	"encoding/json"
	"strings"
)

// reportScript is the report page's one inline script: zoom (buttons, the
// mouse wheel at the pointer), pan (drag), the linear axis toggle, and the
// hover details in a box of their own (the SVG titles, which stay for a
// page read without the script). It lays the drawing out from the data-*
// attributes the SVG carries: data-xc and data-xl on the svg (every axis
// stop's x, compressed and linear, the end last), data-s0/data-s1 on a
// segment, data-s on a marker, a boot line and an axis label. The
// address's fragment opens a view: #linear&zoom=4&seq=17 (linear axis,
// zoomed 4×, centred on record 17 with its details shown).
var reportScript = strings.Replace(`(function () {
"use strict";
var svg = document.getElementById("timeline");
if (!svg) { return; }
var NOTE_LINEAR = @NOTE@;
var W = 1160;
var xc = svg.getAttribute("data-xc").split(" ").map(Number);
var xl = svg.getAttribute("data-xl").split(" ").map(Number);
var left = +svg.getAttribute("data-left"), right = +svg.getAttribute("data-right");
var view = { linear: false, zoom: 1, pan: 0 };
var tip = document.getElementById("tip");
var plot = svg.parentNode;
var note = document.getElementById("axisnote");
var noteCompressed = note.innerHTML;
var box = document.getElementById("linear");
document.getElementById("controls").hidden = false;
Array.prototype.forEach.call(svg.querySelectorAll("title"), function (t) {
	t.parentNode.setAttribute("data-tip", t.textContent);
	t.parentNode.removeChild(t);
});
var markers = Array.prototype.map.call(svg.querySelectorAll("polygon[data-s]"), function (p) {
	var m = /translate\(([-0-9.]+),([-0-9.]+)\)/.exec(p.getAttribute("transform"));
	return { el: p, y: m ? +m[2] : 0 };
});
function pos() { return view.linear ? xl : xc; }
function X(k) { return left + (pos()[k] - left - view.pan) * view.zoom; }
function clampPan() {
	var w = right - left;
	view.zoom = Math.max(1, Math.min(2000, view.zoom));
	view.pan = Math.max(0, Math.min(w - w / view.zoom, view.pan));
}
function show(el, on) { if (on) { el.removeAttribute("display"); } else { el.setAttribute("display", "none"); } }
function layout() {
	clampPan();
	var end = pos().length - 1;
	Array.prototype.forEach.call(svg.querySelectorAll("rect.segment"), function (r) {
		var x0 = X(+r.getAttribute("data-s0")), x1 = X(+r.getAttribute("data-s1"));
		var on = x1 >= left && x0 <= right;
		show(r, on);
		if (on) {
			var a = Math.max(x0, left), b = Math.min(x1, right);
			r.setAttribute("x", a.toFixed(1));
			r.setAttribute("width", Math.max(b - a, 1).toFixed(1));
		}
	});
	markers.forEach(function (m) {
		var x = X(+m.el.getAttribute("data-s"));
		show(m.el, x >= left - 1 && x <= right + 1);
		m.el.setAttribute("transform", "translate(" + x.toFixed(1) + "," + m.y + ")");
	});
	Array.prototype.forEach.call(svg.querySelectorAll("g.boot, g.crash"), function (g) {
		var x = Math.round(X(+g.getAttribute("data-s")));
		show(g, x >= left && x <= right);
		var crash = g.getAttribute("class") === "crash";
		Array.prototype.forEach.call(g.querySelectorAll("line"), function (l) {
			var lx = crash ? x : x + 0.5;
			l.setAttribute("x1", lx); l.setAttribute("x2", lx);
		});
		Array.prototype.forEach.call(g.querySelectorAll("text"), function (t) {
			var w = +t.getAttribute("data-w");
			if (x + w > W) { t.setAttribute("x", x - 3); t.setAttribute("text-anchor", "end"); }
			else { t.setAttribute("x", x + 3); t.removeAttribute("text-anchor"); }
		});
	});
	var xe = Math.min(X(end), right);
	Array.prototype.forEach.call(svg.querySelectorAll("line.track, g.axis > line"), function (l) { l.setAttribute("x2", xe.toFixed(1)); });
	var lastX = -1000, lastDate = "";
	var dates = svg.querySelectorAll("text.tickdate");
	Array.prototype.forEach.call(svg.querySelectorAll("text.tick"), function (t, i) {
		var x = X(+t.getAttribute("data-s")), d = dates[i];
		var on = x >= left && x <= W - 90 && x - lastX >= 110;
		show(t, on);
		t.setAttribute("x", x.toFixed(1));
		d.setAttribute("x", x.toFixed(1));
		var dOn = on && d.textContent !== lastDate;
		show(d, dOn);
		if (on) { lastX = x; }
		if (dOn) { lastDate = d.textContent; }
	});
	var zoom = view.zoom > 1 ? ", zoomed " + (Math.round(view.zoom * 10) / 10) + "×" : "";
	document.getElementById("axismode").textContent = (view.linear ? "axis: linear (to scale)" : "axis: compressed (not to scale)") + zoom;
	note.innerHTML = view.linear ? NOTE_LINEAR : noteCompressed;
	svg.setAttribute("data-view", (view.linear ? "linear" : "compressed") + " zoom=" + view.zoom.toFixed(2) + " pan=" + view.pan.toFixed(1));
}
function svgX(clientX) {
	var r = svg.getBoundingClientRect();
	return (clientX - r.left) * W / r.width;
}
function zoomAt(sx, f) {
	var b = left + view.pan + (sx - left) / view.zoom;
	view.zoom *= f;
	clampPan();
	view.pan = b - left - (sx - left) / view.zoom;
	layout();
}
function centre(k) {
	var w = right - left;
	view.pan = pos()[k] - left - w / view.zoom / 2;
	layout();
}
svg.addEventListener("wheel", function (e) {
	e.preventDefault();
	zoomAt(svgX(e.clientX), e.deltaY < 0 ? 1.25 : 0.8);
}, { passive: false });
var drag = null;
svg.addEventListener("mousedown", function (e) {
	drag = { x: e.clientX, pan: view.pan };
	svg.classList.add("dragging");
	tip.hidden = true;
});
window.addEventListener("mousemove", function (e) {
	if (!drag) { return; }
	var r = svg.getBoundingClientRect();
	view.pan = drag.pan - (e.clientX - drag.x) * W / r.width / view.zoom;
	layout();
});
window.addEventListener("mouseup", function () { drag = null; svg.classList.remove("dragging"); });
function showTip(el, clientX, clientY) {
	var p = plot.getBoundingClientRect();
	tip.textContent = el.getAttribute("data-tip");
	tip.hidden = false;
	var x = clientX - p.left + 14, y = clientY - p.top + 14, w = tip.offsetWidth;
	if (x + w > p.width) { x = Math.max(0, clientX - p.left - w - 14); }
	tip.style.left = x + "px";
	tip.style.top = y + "px";
}
svg.addEventListener("mousemove", function (e) {
	if (drag) { return; }
	var el = e.target.closest ? e.target.closest("[data-tip]") : null;
	if (!el) { tip.hidden = true; return; }
	showTip(el, e.clientX, e.clientY);
});
svg.addEventListener("mouseleave", function () { tip.hidden = true; });
document.getElementById("zoomin").addEventListener("click", function () { zoomAt((left + right) / 2, 2); });
document.getElementById("zoomout").addEventListener("click", function () { zoomAt((left + right) / 2, 0.5); });
document.getElementById("zoomreset").addEventListener("click", function () { view.zoom = 1; view.pan = 0; layout(); });
box.addEventListener("change", function () { view.linear = box.checked; layout(); });
var args = {};
location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
	if (kv) { var i = kv.indexOf("="); args[i < 0 ? kv : kv.slice(0, i)] = i < 0 ? "" : decodeURIComponent(kv.slice(i + 1)); }
});
if ("linear" in args) { view.linear = box.checked = true; }
if (args.zoom) { view.zoom = +args.zoom || 1; }
layout();
if (args.seq) {
	var el = svg.querySelector("polygon[data-seq=\"" + args.seq + "\"]") || svg.querySelector("rect[data-seq=\"" + args.seq + "\"]");
	if (el) {
		centre(+(el.getAttribute("data-s") || el.getAttribute("data-s0")));
		var b = el.getBoundingClientRect(), p = plot.getBoundingClientRect();
		showTip(el, b.left + b.width / 2, b.top + b.height / 2);
		var above = b.top - p.top - tip.offsetHeight - 10;
		if (above >= 0) { tip.style.top = above + "px"; }
		el.setAttribute("data-selected", "true");
	}
}
})();
`, "@NOTE@", jsString(axisNoteLinear), 1)

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a string always marshals
	}
	return string(b)
}
