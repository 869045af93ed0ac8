"""A self-contained interactive map of 2-D points: one HTML file, nothing fetched from anywhere.

The points are inline SVG circles coloured by class; every thumbnail lives in one JPEG sprite, inlined as a
base64 data URI in the page's CSS (one JPEG compresses far better than thousands of tiny ones, which would be
mostly headers). Inline JavaScript shows a point's image and class on hover, highlights the classes a search
matches, and zooms (mouse wheel) and pans (drag); a double click resets the view.
"""

from __future__ import annotations

import base64
import colorsys
import html
import io
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from model.visualization.scatter import CLASS_PALETTE

THUMB = 32
QUALITY = 70
CANVAS = 1000.0
"""The SVG's viewBox is CANVAS x CANVAS units; points are scaled into it, keeping their aspect ratio."""
MARGIN = 20.0
RADIUS = 4.0
TIP_SCALE = 3
"""Hover thumbnails are shown at TIP_SCALE times their stored size."""
TOP_COLOURS = CLASS_PALETTE[:10]
"""The colours of the ten largest classes, as in the PNG scatter plots."""


def class_colours(labels: np.ndarray, num_classes: int) -> list[str]:
    """A colour per class (hex): the ten largest classes get the scatter plots' colours, the others hues spread by the
    golden angle, so neighbouring labels differ."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
    order = np.lexsort((np.arange(num_classes), -counts))
    colours = [""] * num_classes
    for rank, label in enumerate(order):
        if rank < len(TOP_COLOURS):
            colours[label] = TOP_COLOURS[rank]
        else:
            r, g, b = colorsys.hls_to_rgb((rank * 0.381966) % 1.0, 0.45 + 0.15 * (rank % 2), 0.65)
            colours[label] = "#{:02x}{:02x}{:02x}".format(round(r * 255), round(g * 255), round(b * 255))
    return colours


def sprite_grid(count: int) -> int:
    """Columns of the square-ish sprite holding ``count`` thumbnails."""
    return max(1, math.ceil(math.sqrt(count)))


def thumbnail_sprite(images: np.ndarray, thumb: int = THUMB, quality: int = QUALITY) -> str:
    """uint8 images (N, H, W, 3) as one JPEG sprite (row-major grid of ``thumb`` px tiles), as a data URI."""
    images = np.asarray(images, dtype=np.uint8)
    cols = sprite_grid(len(images))
    rows = max(1, math.ceil(len(images) / cols))
    sheet = Image.new("RGB", (cols * thumb, rows * thumb), (255, 255, 255))
    for i, image in enumerate(images):
        tile = Image.fromarray(image).convert("RGB")
        if tile.size != (thumb, thumb):
            tile = tile.resize((thumb, thumb), Image.Resampling.LANCZOS)
        sheet.paste(tile, ((i % cols) * thumb, (i // cols) * thumb))
    buffer = io.BytesIO()
    sheet.save(buffer, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def to_canvas(points: np.ndarray) -> np.ndarray:
    """``points`` (N, 2) scaled uniformly into the canvas (margins kept), y pointing up as in a plot."""
    points = np.asarray(points, dtype=np.float64)
    if len(points) == 0:
        return points.reshape(0, 2)
    low, high = points.min(axis=0), points.max(axis=0)
    span = float(max(high - low)) or 1.0
    scale = (CANVAS - 2 * MARGIN) / span
    centred = (points - (low + high) / 2) * scale + CANVAS / 2
    centred[:, 1] = CANVAS - centred[:, 1]
    return centred


def _script_json(value: object) -> str:
    """JSON safe to put inside a <script> element."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("</", "<\\/")


def render_html_map(
    points: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    images: np.ndarray,
    title: str,
    subtitle: str = "",
    paths: list[str] | None = None,
    thumb: int = THUMB,
    quality: int = QUALITY,
) -> str:
    """The page, as a string. ``labels`` index ``classes``; ``images`` (N, H, W, 3) are the points' images."""
    points, labels = np.asarray(points), np.asarray(labels, dtype=np.int64)
    if not (len(points) == len(labels) == len(images)) or (paths is not None and len(paths) != len(points)):
        raise ValueError("points, labels, images (and paths) must have one entry per point")
    xy = to_canvas(points)
    colours = class_colours(labels, len(classes))
    counts = np.bincount(labels, minlength=len(classes))
    present = [int(c) for c in np.lexsort((np.arange(len(classes)), -counts)) if counts[c] > 0]
    cols = sprite_grid(len(points))

    circles = "\n".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{RADIUS:g}" class="c{label}" data-i="{i}"/>'
        for i, ((x, y), label) in enumerate(zip(xy, labels))
    )
    class_css = "\n".join(f".c{c}{{fill:{colours[c]}}}" for c in present)
    legend = "\n".join(
        f'<li data-c="{c}"><span class="sw" style="background:{colours[c]}"></span>'
        f"{html.escape(classes[c].replace('_', ' '))} <small>{int(counts[c])}</small></li>"
        for c in present
    )
    options = "".join(f'<option value="{html.escape(classes[c].replace("_", " "))}">' for c in present)
    meta = {
        "classes": [name.replace("_", " ") for name in classes],
        "labels": labels.tolist(),
        "paths": list(paths) if paths is not None else None,
        "cols": cols,
        "thumb": thumb,
        "scale": TIP_SCALE,
        "radius": RADIUS,
        "canvas": CANVAS,
    }
    tip = thumb * TIP_SCALE
    return _PAGE.format(
        title=html.escape(title),
        subtitle=html.escape(subtitle),
        count=len(points),
        num_classes=len(present),
        sprite=thumbnail_sprite(images, thumb, quality),
        sprite_size=cols * tip,
        tip=tip,
        class_css=class_css,
        circles=circles,
        legend=legend,
        options=options,
        meta=_script_json(meta),
        script=_SCRIPT,
        canvas=f"{CANVAS:g}",
    )


def write_html_map(path: Path, *args, **kwargs) -> Path:
    """Write :func:`render_html_map` (same arguments after ``path``) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html_map(*args, **kwargs), encoding="utf-8")
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
* {{ box-sizing: border-box; }}
body {{ margin: 0; font: 14px/1.4 system-ui, sans-serif; color: #222; background: #fafafa; }}
header {{ padding: 10px 16px; border-bottom: 1px solid #ddd; background: #fff; display: flex; gap: 16px;
  align-items: baseline; flex-wrap: wrap; }}
h1 {{ font-size: 18px; margin: 0; }}
header p {{ margin: 0; color: #666; }}
#search {{ font: inherit; padding: 4px 8px; width: 260px; }}
#found {{ color: #444; }}
main {{ display: flex; height: calc(100vh - 56px); }}
#map {{ flex: 1; min-width: 0; height: 100%; background: #fff; cursor: grab; user-select: none; }}
#map.dragging {{ cursor: grabbing; }}
#map circle {{ fill-opacity: 0.85; stroke: #fff; stroke-width: 0.5px; vector-effect: non-scaling-stroke; }}
#map circle:hover {{ stroke: #000; stroke-width: 2px; }}
#map.searching circle {{ fill-opacity: 0.12; }}
#map.searching circle.on {{ fill-opacity: 1; stroke: #000; stroke-width: 1.2px; }}
{class_css}
aside {{ width: 250px; overflow-y: auto; border-left: 1px solid #ddd; background: #fff; padding: 8px 0; }}
aside ol {{ list-style: none; margin: 0; padding: 0; }}
aside li {{ padding: 2px 12px; cursor: pointer; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
aside li:hover, aside li.on {{ background: #eef; }}
aside small {{ color: #888; }}
.sw {{ display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 6px; }}
#tip {{ position: fixed; display: none; pointer-events: none; background: #fff; border: 1px solid #999;
  box-shadow: 0 2px 8px rgba(0,0,0,.25); padding: 4px; z-index: 10; max-width: 240px; }}
#thumb {{ width: {tip}px; height: {tip}px; background-image: url({sprite});
  background-size: {sprite_size}px auto; background-repeat: no-repeat; }}
#tipname {{ font-weight: 600; margin-top: 2px; }}
#tippath {{ font-size: 11px; color: #777; word-break: break-all; }}
</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p>{subtitle} &middot; {count} images, {num_classes} classes &middot; wheel: zoom, drag: pan, double click: reset</p>
<input id="search" type="search" list="names" placeholder="Find a class by name" autocomplete="off">
<datalist id="names">{options}</datalist>
<span id="found"></span>
</header>
<main>
<svg id="map" viewBox="0 0 {canvas} {canvas}" preserveAspectRatio="xMidYMid meet" role="img" aria-label="{title}">
<g id="points">
{circles}
</g>
</svg>
<aside><ol id="legend">
{legend}
</ol></aside>
</main>
<div id="tip"><div id="thumb"></div><div id="tipname"></div><div id="tippath"></div></div>
<script id="meta" type="application/json">{meta}</script>
<script>
{script}
</script>
</body>
</html>
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var meta = JSON.parse(document.getElementById("meta").textContent);
  var svg = document.getElementById("map");
  var group = document.getElementById("points");
  var circles = Array.prototype.slice.call(group.querySelectorAll("circle"));
  var tip = document.getElementById("tip");
  var thumb = document.getElementById("thumb");
  var tipName = document.getElementById("tipname");
  var tipPath = document.getElementById("tippath");
  var search = document.getElementById("search");
  var found = document.getElementById("found");
  var legend = document.getElementById("legend");
  var tileSize = meta.thumb * meta.scale;

  // Hover: the point's image (a tile of the sprite) and its class.
  function showTip(event, i) {
    var col = i % meta.cols, row = Math.floor(i / meta.cols);
    thumb.style.backgroundPosition = (-col * tileSize) + "px " + (-row * tileSize) + "px";
    tipName.textContent = meta.classes[meta.labels[i]];
    tipPath.textContent = meta.paths ? meta.paths[i] : "";
    tip.style.display = "block";
    var x = event.clientX + 14, y = event.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth) x = event.clientX - tip.offsetWidth - 14;
    if (y + tip.offsetHeight > window.innerHeight) y = event.clientY - tip.offsetHeight - 14;
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  group.addEventListener("mousemove", function (event) {
    var target = event.target;
    if (target.tagName.toLowerCase() === "circle") showTip(event, Number(target.getAttribute("data-i")));
  });
  group.addEventListener("mouseleave", function () { tip.style.display = "none"; });
  svg.addEventListener("mousemove", function (event) {
    if (event.target.tagName.toLowerCase() !== "circle") tip.style.display = "none";
  });

  // Search: highlight the classes whose name matches (an exact name wins over partial matches).
  function normalise(text) { return text.toLowerCase().replace(/_/g, " ").trim(); }
  function highlight(query) {
    var q = normalise(query);
    var items = legend.querySelectorAll("li");
    if (!q) {
      svg.classList.remove("searching");
      circles.forEach(function (c) { c.classList.remove("on"); });
      for (var j = 0; j < items.length; j++) items[j].classList.remove("on");
      found.textContent = "";
      return;
    }
    var hit = {}, names = [];
    meta.classes.forEach(function (name, c) { if (normalise(name) === q) { hit[c] = true; names.push(name); } });
    if (!names.length) {
      meta.classes.forEach(function (name, c) { if (normalise(name).indexOf(q) >= 0) { hit[c] = true; names.push(name); } });
    }
    var points = 0;
    svg.classList.add("searching");
    circles.forEach(function (c, i) {
      var on = hit[meta.labels[i]] === true;
      c.classList.toggle("on", on);
      if (on) { points++; group.appendChild(c); }  // bring to the front
    });
    for (var k = 0; k < items.length; k++) items[k].classList.toggle("on", hit[items[k].getAttribute("data-c")] === true);
    found.textContent = names.length
      ? points + " images of " + (names.length === 1 ? names[0] : names.length + " classes")
      : "no class matches";
  }
  search.addEventListener("input", function () { highlight(search.value); });
  legend.addEventListener("click", function (event) {
    var li = event.target.closest("li");
    if (!li) return;
    var name = meta.classes[Number(li.getAttribute("data-c"))];
    search.value = normalise(search.value) === normalise(name) ? "" : name;
    highlight(search.value);
  });

  // Zoom (wheel, around the pointer) and pan (drag); dots keep their size on screen.
  var full = { x: 0, y: 0, w: meta.canvas, h: meta.canvas };
  var view = { x: full.x, y: full.y, w: full.w, h: full.h };
  function apply() {
    svg.setAttribute("viewBox", view.x + " " + view.y + " " + view.w + " " + view.h);
    var r = String(meta.radius * view.w / meta.canvas);
    circles.forEach(function (c) { c.setAttribute("r", r); });
  }
  function toCanvas(event) {
    var point = svg.createSVGPoint();
    point.x = event.clientX; point.y = event.clientY;
    return point.matrixTransform(svg.getScreenCTM().inverse());
  }
  svg.addEventListener("wheel", function (event) {
    event.preventDefault();
    var p = toCanvas(event);
    var factor = Math.exp(event.deltaY * 0.0015);
    var w = Math.min(full.w * 2, Math.max(full.w / 200, view.w * factor));
    factor = w / view.w;
    view.x = p.x - (p.x - view.x) * factor;
    view.y = p.y - (p.y - view.y) * factor;
    view.w = w; view.h = view.h * factor;
    apply();
  }, { passive: false });
  var drag = null;
  svg.addEventListener("mousedown", function (event) {
    drag = { start: toCanvas(event) };
    svg.classList.add("dragging");
  });
  window.addEventListener("mousemove", function (event) {
    if (!drag) return;
    var p = toCanvas(event);
    view.x -= p.x - drag.start.x;
    view.y -= p.y - drag.start.y;
    apply();
  });
  window.addEventListener("mouseup", function () { drag = null; svg.classList.remove("dragging"); });
  svg.addEventListener("dblclick", function () { view = { x: full.x, y: full.y, w: full.w, h: full.h }; apply(); });
})();
"""
