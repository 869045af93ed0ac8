// The embedding map: every gallery point on a canvas, coloured by person; hover, zoom, pan, search, and the
// highlight of a match (?match=<id>[:<similarity>],...) with the query placed at the similarity-weighted mean
// of its matches' positions.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const canvas = $("map");
  const ctx = canvas.getContext("2d");
  const wrap = $("map-wrap");
  const tip = $("map-tip");
  const statusBox = $("map-status");
  const legend = $("map-legend");
  const search = $("person-search");

  let xs = new Float32Array(0);
  let ys = new Float32Array(0);
  let ids = new Int32Array(0);
  let owner = new Int32Array(0);
  let people = [];
  let colours = [];
  let byPerson = [];
  let indexOfId = new Map();
  let method = "pca";
  let version = null;
  const view = { k: 1, cx: 0, cy: 0 };
  let searched = new Set();
  let hovered = -1;
  let drawPending = false;

  // ------------------------------------------------------------------------------------------ the match
  const matchParam = new URLSearchParams(window.location.search).get("match") || "";
  const matches = matchParam.split(",").map((part) => {
    const [id, sim] = part.split(":");
    return { id: Number.parseInt(id, 10), weight: sim === undefined ? 1 : Math.max(0, Number.parseFloat(sim)) || 0 };
  }).filter((m) => Number.isInteger(m.id));

  // ------------------------------------------------------------------------------------------ colours
  function hue(name) { // FNV-1a: a stable hue per person
    let h = 0x811c9dc5;
    for (let i = 0; i < name.length; i++) { h ^= name.charCodeAt(i); h = Math.imul(h, 0x01000193); }
    return (h >>> 0) % 360;
  }
  const dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  const colourOf = (name) => `hsl(${hue(name)} ${dark ? "70% 62%" : "68% 45%"})`;
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#4f46e5";

  // ------------------------------------------------------------------------------------------ geometry
  function size() {
    const rect = canvas.getBoundingClientRect();
    return { w: rect.width, h: rect.height };
  }
  function base() { const { w, h } = size(); return (Math.min(w, h) / 2) * 0.92; }
  function toScreen(x, y) {
    const { w, h } = size();
    const b = base() * view.k;
    return [w / 2 + (x - view.cx) * b, h / 2 - (y - view.cy) * b];
  }
  function toWorld(px, py) {
    const { w, h } = size();
    const b = base() * view.k;
    return [view.cx + (px - w / 2) / b, view.cy - (py - h / 2) / b];
  }

  function resize() {
    const dpr = window.devicePixelRatio || 1;
    const { w, h } = size();
    canvas.width = Math.max(1, Math.round(w * dpr));
    canvas.height = Math.max(1, Math.round(h * dpr));
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    requestDraw();
  }

  function requestDraw() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => { drawPending = false; draw(); });
  }

  // ------------------------------------------------------------------------------------------ drawing
  function matchPoints() {
    return matches.map((m) => ({ ...m, i: indexOfId.get(m.id) })).filter((m) => m.i !== undefined);
  }

  function queryPosition(found) {
    const total = found.reduce((s, m) => s + m.weight, 0);
    const weights = total > 0 ? found.map((m) => m.weight / total) : found.map(() => 1 / found.length);
    let x = 0, y = 0;
    found.forEach((m, j) => { x += weights[j] * xs[m.i]; y += weights[j] * ys[m.i]; });
    return [x, y];
  }

  function pointRadius() {
    const n = xs.length;
    const r0 = n < 500 ? 3.5 : n < 3000 ? 2.5 : 1.6;
    return Math.min(7, r0 * Math.sqrt(view.k));
  }

  function draw() {
    const { w, h } = size();
    ctx.clearRect(0, 0, w, h);
    // The view drawn, for tests and for anyone inspecting the page: zoom factor and centre in map units.
    canvas.dataset.view = `${view.k} ${view.cx} ${view.cy}`;
    if (!xs.length) return;
    const found = matchPoints();
    const highlight = searched.size > 0 || found.length > 0;
    const r = pointRadius();
    // Screen = o + world * b (y flipped), inlined: 13k points are drawn on every frame of a zoom or a pan.
    const b = base() * view.k;
    const ox = w / 2 - view.cx * b;
    const oy = h / 2 + view.cy * b;
    const squares = r < 2.2; // tiny points: squares draw several times faster than arcs, and look the same
    const side = 2 * r;
    ctx.globalAlpha = highlight ? 0.22 : 0.85;
    for (let p = 0; p < byPerson.length; p++) {
      const points = byPerson[p];
      ctx.fillStyle = colours[p];
      if (squares) {
        for (let j = 0; j < points.length; j++) {
          const i = points[j];
          const sx = ox + xs[i] * b, sy = oy - ys[i] * b;
          if (sx > -r && sy > -r && sx < w + r && sy < h + r) ctx.fillRect(sx - r, sy - r, side, side);
        }
        continue;
      }
      ctx.beginPath();
      for (let j = 0; j < points.length; j++) {
        const i = points[j];
        const sx = ox + xs[i] * b, sy = oy - ys[i] * b;
        if (sx < -r || sy < -r || sx > w + r || sy > h + r) continue;
        ctx.moveTo(sx + r, sy);
        ctx.arc(sx, sy, r, 0, 2 * Math.PI);
      }
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    const ring = (i, radius, colour, width = 2) => {
      const [sx, sy] = toScreen(xs[i], ys[i]);
      ctx.beginPath();
      ctx.arc(sx, sy, radius, 0, 2 * Math.PI);
      ctx.fillStyle = colours[owner[i]];
      ctx.fill();
      ctx.lineWidth = width;
      ctx.strokeStyle = colour;
      ctx.stroke();
    };
    const text = css("--text");
    for (const p of searched) for (const i of byPerson[p]) ring(i, r + 2.5, text, 1.5);
    if (found.length) {
      const accent = css("--accent");
      const [qx, qy] = queryPosition(found);
      const [sqx, sqy] = toScreen(qx, qy);
      ctx.strokeStyle = accent;
      ctx.lineWidth = 1.2;
      ctx.setLineDash([4, 3]);
      for (const m of found) {
        const [sx, sy] = toScreen(xs[m.i], ys[m.i]);
        ctx.beginPath(); ctx.moveTo(sqx, sqy); ctx.lineTo(sx, sy); ctx.stroke();
      }
      ctx.setLineDash([]);
      for (const m of found) ring(m.i, r + 4, accent, 2.5);
      // The query: a diamond.
      ctx.beginPath();
      ctx.moveTo(sqx, sqy - 9); ctx.lineTo(sqx + 9, sqy); ctx.lineTo(sqx, sqy + 9); ctx.lineTo(sqx - 9, sqy); ctx.closePath();
      ctx.fillStyle = accent; ctx.fill();
      ctx.lineWidth = 2; ctx.strokeStyle = css("--surface"); ctx.stroke();
      ctx.font = `600 12px ${css("--font") || "sans-serif"}`;
      ctx.fillStyle = text;
      ctx.fillText("your photo", sqx + 12, sqy + 4);
    }
    if (hovered >= 0) ring(hovered, r + 3, text, 2);
  }

  // ------------------------------------------------------------------------------------------ hover
  function nearest(px, py) {
    const { w, h } = size();
    const b = base() * view.k;
    const ox = w / 2 - view.cx * b;
    const oy = h / 2 + view.cy * b;
    let best = -1, bestD = Math.max(10, pointRadius() + 4) ** 2;
    for (let i = 0; i < xs.length; i++) {
      const dx = ox + xs[i] * b - px, dy = oy - ys[i] * b - py;
      const d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }

  function showTip(i, px, py) {
    if (i < 0) { tip.hidden = true; return; }
    const name = people[owner[i]];
    const img = $("map-tip-img");
    const url = `/gallery/${ids[i]}/image`;
    if (img.getAttribute("src") !== url) img.src = url;
    img.alt = name.replaceAll("_", " ");
    $("map-tip-name").textContent = `${name.replaceAll("_", " ")} · #${ids[i]}`;
    tip.hidden = false;
    const { w, h } = size();
    tip.style.left = `${Math.min(px + 14, w - 150)}px`;
    tip.style.top = `${Math.min(py + 14, h - 170)}px`;
  }

  // ------------------------------------------------------------------------------------------ zoom, pan
  let drag = null;
  let hoverPending = null;
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    const rect = canvas.getBoundingClientRect();
    const px = event.clientX - rect.left, py = event.clientY - rect.top;
    const [wx, wy] = toWorld(px, py);
    const factor = Math.exp(-event.deltaY * (event.deltaMode === 1 ? 0.05 : 0.0015));
    view.k = Math.min(400, Math.max(0.3, view.k * factor));
    const [nx, ny] = toWorld(px, py); // keep the point under the cursor in place
    view.cx += wx - nx;
    view.cy += wy - ny;
    requestDraw();
  }, { passive: false });

  canvas.addEventListener("pointerdown", (event) => {
    drag = { x: event.clientX, y: event.clientY, cx: view.cx, cy: view.cy, moved: false };
    canvas.setPointerCapture(event.pointerId);
    canvas.classList.add("dragging");
  });
  canvas.addEventListener("pointermove", (event) => {
    const rect = canvas.getBoundingClientRect();
    const px = event.clientX - rect.left, py = event.clientY - rect.top;
    if (drag) {
      const b = base() * view.k;
      const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
      view.cx = drag.cx - dx / b;
      view.cy = drag.cy + dy / b;
      tip.hidden = true;
      requestDraw();
      return;
    }
    if (hoverPending) return;
    hoverPending = requestAnimationFrame(() => {
      hoverPending = null;
      const i = nearest(px, py);
      if (i !== hovered) { hovered = i; requestDraw(); }
      showTip(i, px, py);
    });
  });
  const endDrag = () => { drag = null; canvas.classList.remove("dragging"); };
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("pointerleave", () => { if (!drag) { hovered = -1; tip.hidden = true; requestDraw(); } });

  function resetView() { view.k = 1; view.cx = 0; view.cy = 0; requestDraw(); }
  $("map-reset").addEventListener("click", resetView);

  function fitTo(indices) {
    if (!indices.length) return;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const i of indices) { x0 = Math.min(x0, xs[i]); x1 = Math.max(x1, xs[i]); y0 = Math.min(y0, ys[i]); y1 = Math.max(y1, ys[i]); }
    view.cx = (x0 + x1) / 2;
    view.cy = (y0 + y1) / 2;
    const span = Math.max(x1 - x0, y1 - y0, 0.02);
    view.k = Math.min(60, Math.max(1, 1.6 / span));
    requestDraw();
  }

  // ------------------------------------------------------------------------------------------ search
  const normal = (text) => text.trim().toLowerCase().replace(/[\s_]+/g, "_");
  function runSearch(zoom) {
    const q = normal(search.value);
    searched = new Set();
    if (q) {
      const exact = people.findIndex((name) => name.toLowerCase() === q);
      if (exact >= 0) searched.add(exact);
      else people.forEach((name, p) => { if (name.toLowerCase().includes(q)) searched.add(p); });
    }
    const images = [...searched].reduce((s, p) => s + byPerson[p].length, 0);
    describe(q ? `${searched.size} ${searched.size === 1 ? "person matches" : "people match"} “${search.value.trim()}” (${images} image${images === 1 ? "" : "s"}, ringed).` : "");
    if (zoom && searched.size && searched.size <= 20) fitTo([...searched].flatMap((p) => byPerson[p]));
    requestDraw();
  }
  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    const exact = people.some((name) => name.toLowerCase() === normal(search.value));
    searchTimer = setTimeout(() => runSearch(exact), exact ? 0 : 150);
  });
  search.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); runSearch(true); } });

  function describe(searchText) {
    const parts = [`${xs.length.toLocaleString()} images of ${people.length.toLocaleString()} people, ${method === "tsne" ? "t-SNE" : "PCA"} of index ${version}.`];
    const found = matchPoints();
    if (found.length) {
      parts.push(`Your photo (◆) sits at the similarity-weighted mean of its ${found.length} matches (ringed): ${found.map((m) => people[owner[m.i]].replaceAll("_", " ")).join(", ")}.`);
    } else if (matches.length) {
      parts.push("The matches of your photo are not in this index version (it was rebuilt since).");
    }
    if (searchText) parts.push(searchText);
    legend.textContent = parts.join(" ");
  }

  // ------------------------------------------------------------------------------------------ data
  async function load(which) {
    const response = await fetch(`/dashboard/embedding/data?method=${which}`);
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || `the map failed to load (${response.status})`);
    const n = body.points.length;
    xs = new Float32Array(n); ys = new Float32Array(n); ids = new Int32Array(n); owner = new Int32Array(n);
    indexOfId = new Map();
    body.points.forEach(([x, y, id, p], i) => { xs[i] = x; ys[i] = y; ids[i] = id; owner[i] = p; indexOfId.set(id, i); });
    if (body.version !== version) {
      people = body.people;
      colours = people.map(colourOf);
      const names = $("person-names");
      names.replaceChildren(...people.map((name) => { const o = document.createElement("option"); o.value = name.replaceAll("_", " "); return o; }));
    }
    byPerson = people.map(() => []);
    for (let i = 0; i < n; i++) byPerson[owner[i]].push(i);
    method = body.method;
    version = body.version;
    document.querySelector(`input[name=method][value=${method}]`).checked = true;
    showStatus(body.tsne);
    runSearch(false);
    const found = matchPoints();
    if (found.length) fitTo(found.map((m) => m.i)); else resetView();
    requestDraw();
    return body;
  }

  function showStatus(tsne) {
    const radio = $("method-tsne");
    radio.disabled = tsne !== "ready";
    statusBox.className = "alert small " + (tsne.startsWith("failed") ? "alert-warn" : "alert-info");
    if (tsne === "ready") {
      statusBox.hidden = method === "tsne";
      statusBox.textContent = "t-SNE is ready: choose it above.";
    } else if (tsne.startsWith("failed")) {
      statusBox.hidden = false;
      statusBox.textContent = `t-SNE could not be computed (${tsne}); showing PCA.`;
    } else {
      statusBox.hidden = false;
      statusBox.replaceChildren();
      const spin = document.createElement("span");
      spin.className = "spinner";
      spin.setAttribute("aria-hidden", "true");
      statusBox.append(spin, " t-SNE is being computed in the background (once per index version); showing PCA meanwhile. The map switches to t-SNE when it is ready.");
    }
  }

  async function pollTsne() {
    try {
      const response = await fetch("/dashboard/embedding/status");
      const body = await response.json();
      if (response.ok && body.tsne === "ready") { await load("tsne"); return; }
      if (response.ok && body.tsne.startsWith("failed")) { showStatus(body.tsne); return; }
    } catch { /* try again */ }
    setTimeout(pollTsne, 3000);
  }

  document.querySelectorAll("input[name=method]").forEach((radio) => radio.addEventListener("change", () => {
    if (radio.checked) load(radio.value).catch(fail);
  }));

  function fail(error) {
    statusBox.hidden = false;
    statusBox.className = "alert alert-error small";
    statusBox.textContent = error.message;
  }

  window.addEventListener("resize", resize);
  resize();
  (async () => {
    try {
      const status = await (await fetch("/dashboard/embedding/status")).json().catch(() => ({}));
      const body = await load(status.tsne === "ready" ? "tsne" : "pca");
      if (body.tsne !== "ready" && !body.tsne.startsWith("failed")) setTimeout(pollTsne, 2000);
    } catch (error) { fail(error); }
  })();
})();
