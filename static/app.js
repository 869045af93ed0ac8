// The look-alike page: a photo (file, drop or webcam) -> POST /match -> faces and their look-alikes.
// Plain ES module, no framework, no build step. The photo goes to this server only; nothing is kept in the browser.

const $ = (id) => document.getElementById(id);

const script = $("app-script");
const LIMITS = {
  bytes: Number(script?.dataset.maxBytes) || 20 * 2 ** 20,
  pixels: Number(script?.dataset.maxPixels) || 40e6,
};
/** Photos whose longest side is over this are scaled down before upload: faster, and plenty for faces. */
const MAX_SIDE = 2048;

const ui = {
  tabs: [$("tab-upload"), $("tab-camera")],
  panels: { "tab-upload": $("panel-upload"), "tab-camera": $("panel-camera") },
  dropzone: $("dropzone"),
  fileInput: $("file-input"),
  video: $("camera-video"),
  snapshot: $("camera-snapshot"),
  placeholder: $("camera-placeholder"),
  cameraStart: $("camera-start"),
  cameraSnap: $("camera-snap"),
  cameraRetake: $("camera-retake"),
  k: $("k-select"),
  photo: $("photo-canvas"),
  photoEmpty: $("photo-empty"),
  facesBlock: $("faces-block"),
  faces: $("faces"),
  status: $("status"),
  error: $("error"),
  health: $("health-alert"),
  results: $("results"),
  queryFace: $("query-face"),
  queryCaption: $("query-caption"),
  noStrong: $("no-strong-match"),
  matches: $("matches"),
  timings: $("timings"),
  mapLink: $("map-link"),
};

const state = {
  blob: null, // what is sent to /match
  bitmap: null, // the same image, decoded (null when the browser cannot read it: the server says why)
  result: null, // the last /match answer
  face: 0, // the face whose look-alikes are shown
  stream: null, // the live camera
  request: 0, // number of the latest /match request; older answers are dropped
};

// ---------- helpers ----------

const personName = (person) => person.replaceAll("_", " ");

function setStatus(text, busy = false) {
  ui.status.replaceChildren();
  if (busy) {
    const spinner = document.createElement("span");
    spinner.className = "spinner";
    spinner.setAttribute("aria-hidden", "true");
    ui.status.append(spinner);
  }
  if (text) ui.status.append(document.createTextNode(text));
}

function showError(title, detail) {
  ui.error.replaceChildren();
  const strong = document.createElement("strong");
  strong.textContent = title;
  ui.error.append(strong, document.createTextNode(detail || ""));
  ui.error.hidden = false;
}

function clearError() {
  ui.error.hidden = true;
  ui.error.replaceChildren();
}

const ERROR_TITLES = {
  400: "This file can't be read",
  413: "This photo is too large",
  415: "Not a supported image",
  422: "No face found",
  503: "The look-alike index is not ready",
};

/** The API's message: ``detail`` is a string for our errors, a list for FastAPI's validation errors. */
function detailOf(body, status) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
  return `the server answered ${status}`;
}

function titleFor(status, detail) {
  if (status === 422 && !/no face/i.test(detail)) return "That didn't work";
  return ERROR_TITLES[status] || (status >= 500 ? "Something went wrong on the server" : "That didn't work");
}

// ---------- tabs ----------

function selectTab(tab, focus = false) {
  for (const t of ui.tabs) {
    const selected = t === tab;
    t.setAttribute("aria-selected", String(selected));
    t.tabIndex = selected ? 0 : -1;
    ui.panels[t.id].hidden = !selected;
  }
  if (focus) tab.focus();
  if (tab.id !== "tab-camera") stopCamera();
}

for (const tab of ui.tabs) {
  tab.addEventListener("click", () => selectTab(tab));
  tab.addEventListener("keydown", (event) => {
    const i = ui.tabs.indexOf(tab);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: ui.tabs.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    selectTab(ui.tabs[(next + ui.tabs.length) % ui.tabs.length], true);
  });
}

// ---------- upload and drop ----------

ui.fileInput.addEventListener("change", () => {
  const file = ui.fileInput.files && ui.fileInput.files[0];
  if (file) usePhoto(file);
  ui.fileInput.value = ""; // choosing the same file again still fires "change"
});

for (const name of ["dragenter", "dragover"]) {
  ui.dropzone.addEventListener(name, (event) => {
    event.preventDefault();
    ui.dropzone.classList.add("dragover");
  });
}
for (const name of ["dragleave", "drop"]) {
  ui.dropzone.addEventListener(name, () => ui.dropzone.classList.remove("dragover"));
}
ui.dropzone.addEventListener("drop", (event) => {
  event.preventDefault();
  const file = event.dataTransfer && event.dataTransfer.files[0];
  if (file) usePhoto(file);
});
// A photo dropped beside the zone must not make the browser navigate away to it.
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());

// ---------- camera ----------

async function startCamera() {
  clearError();
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showError("No camera access", "This browser, or a page not served over HTTPS, does not allow the camera: upload a photo instead.");
    return;
  }
  ui.cameraStart.disabled = true;
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 960 } },
      audio: false,
    });
  } catch (error) {
    ui.cameraStart.disabled = false;
    const denied = error && (error.name === "NotAllowedError" || error.name === "SecurityError");
    showError(
      denied ? "Camera access was refused" : "The camera could not start",
      denied ? "Allow the camera for this page in the browser's settings, or upload a photo instead."
             : `${error && error.message ? error.message : error}. Upload a photo instead.`,
    );
    return;
  }
  ui.video.srcObject = state.stream;
  await ui.video.play().catch(() => {});
  ui.video.hidden = false;
  ui.snapshot.hidden = true;
  ui.placeholder.hidden = true;
  ui.cameraStart.hidden = true;
  ui.cameraStart.disabled = false;
  ui.cameraSnap.hidden = false;
  ui.cameraRetake.hidden = true;
  ui.cameraSnap.focus();
}

function stopCamera() {
  if (state.stream) {
    for (const track of state.stream.getTracks()) track.stop();
    state.stream = null;
  }
  ui.video.srcObject = null;
  ui.video.hidden = true;
  ui.cameraSnap.hidden = true;
  if (ui.snapshot.hidden) {
    ui.placeholder.hidden = false;
    ui.cameraStart.hidden = false;
  }
}

async function snap() {
  const width = ui.video.videoWidth;
  const height = ui.video.videoHeight;
  if (!width || !height) {
    showError("The camera has no picture yet", "Wait a moment and try again.");
    return;
  }
  // The photo as the camera sees it (the preview is mirrored, the snapshot is not).
  ui.snapshot.width = width;
  ui.snapshot.height = height;
  ui.snapshot.getContext("2d").drawImage(ui.video, 0, 0, width, height);
  const blob = await new Promise((resolve) => ui.snapshot.toBlob(resolve, "image/jpeg", 0.92));
  stopCamera();
  ui.snapshot.hidden = false;
  ui.placeholder.hidden = true;
  ui.cameraStart.hidden = true;
  ui.cameraRetake.hidden = false;
  ui.cameraRetake.focus();
  if (blob) usePhoto(blob);
}

ui.cameraStart.addEventListener("click", startCamera);
ui.cameraSnap.addEventListener("click", snap);
ui.cameraRetake.addEventListener("click", () => {
  ui.snapshot.hidden = true;
  ui.cameraRetake.hidden = true;
  startCamera();
});
window.addEventListener("pagehide", stopCamera);

// ---------- the photo ----------

/** The photo to send: the file itself, or a smaller JPEG when it is over the server's limits or very large. */
async function prepare(file) {
  let bitmap;
  try {
    // Upright as the server sees it (it applies the EXIF orientation too); older browsers know only the default.
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" }).catch((error) => {
      if (error instanceof TypeError) return createImageBitmap(file);
      throw error;
    });
  } catch {
    return { blob: file, bitmap: null }; // not an image this browser reads: the server will say what is wrong
  }
  const { width, height } = bitmap;
  let scale = Math.min(1, MAX_SIDE / Math.max(width, height), Math.sqrt(LIMITS.pixels / (width * height)));
  if (scale === 1 && file.size <= LIMITS.bytes) return { blob: file, bitmap };
  for (let attempt = 0; attempt < 4; attempt += 1, scale *= 0.7) {
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
    if (blob && blob.size <= LIMITS.bytes) {
      bitmap.close();
      return { blob, bitmap: await createImageBitmap(canvas) };
    }
  }
  return { blob: file, bitmap }; // let the server explain the limit
}

async function usePhoto(file) {
  clearError();
  setStatus("Reading the photo…", true);
  if (state.bitmap) state.bitmap.close();
  const { blob, bitmap } = await prepare(file);
  state.blob = blob;
  state.bitmap = bitmap;
  state.result = null;
  state.face = 0;
  ui.facesBlock.hidden = true;
  ui.results.hidden = true;
  drawPhoto();
  await query();
}

function drawPhoto() {
  const bitmap = state.bitmap;
  if (!bitmap) {
    ui.photo.hidden = true;
    ui.photoEmpty.hidden = false;
    $("photo-empty-text").textContent = "This browser cannot show this file.";
    return;
  }
  const canvas = ui.photo;
  const scale = Math.min(1, 1200 / Math.max(bitmap.width, bitmap.height));
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const faces = state.result ? state.result.faces : [];
  const line = Math.max(2, Math.round(Math.max(canvas.width, canvas.height) / 250));
  faces.forEach((face, i) => {
    const [x0, y0, x1, y1] = face.box.map((v) => v * scale);
    ctx.lineWidth = i === state.face ? line * 1.5 : line;
    ctx.strokeStyle = i === state.face ? "#6366f1" : "rgba(255,255,255,0.85)";
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    if (faces.length > 1) {
      const size = Math.max(14, line * 7);
      ctx.fillStyle = i === state.face ? "#6366f1" : "rgba(0,0,0,0.6)";
      ctx.fillRect(x0, Math.max(0, y0 - size), size, size);
      ctx.fillStyle = "#fff";
      ctx.font = `bold ${Math.round(size * 0.75)}px system-ui, sans-serif`;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(String(i + 1), x0 + size / 2, Math.max(0, y0 - size) + size / 2);
    }
  });
  const count = faces.length;
  canvas.setAttribute("aria-label", count ? `Your photo, ${count} face${count > 1 ? "s" : ""} outlined` : "Your photo");
  canvas.hidden = false;
  ui.photoEmpty.hidden = true;
}

/** ``face``'s box, squared and widened a little, drawn into ``canvas`` (size × size). */
function drawFace(canvas, face, size) {
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext("2d");
  const bitmap = state.bitmap;
  if (!bitmap) return;
  const [x0, y0, x1, y1] = face.box;
  const side = Math.max(x1 - x0, y1 - y0) * 1.25;
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  ctx.fillStyle = "#888";
  ctx.fillRect(0, 0, size, size);
  ctx.drawImage(bitmap, cx - side / 2, cy - side / 2, side, side, 0, 0, size, size);
}

// ---------- matching ----------

async function query() {
  if (!state.blob) return;
  const number = ++state.request;
  const params = new URLSearchParams({ k: ui.k.value });
  if (state.result && state.face < state.result.faces.length) params.set("face", String(state.face));
  const form = new FormData();
  form.append("file", state.blob, state.blob.name || "photo.jpg");
  clearError();
  setStatus("Looking for your look-alikes…", true);
  ui.k.disabled = true;
  let response;
  let body = null;
  try {
    response = await fetch(`/match?${params}`, { method: "POST", body: form });
    body = await response.json().catch(() => null);
  } catch (error) {
    if (number !== state.request) return;
    ui.k.disabled = false;
    setStatus("");
    showError("Could not reach the server", "Check the connection and try again.");
    return;
  }
  if (number !== state.request) return; // a newer request is on its way
  ui.k.disabled = false;
  setStatus("");
  if (!response.ok) {
    const detail = detailOf(body, response.status);
    state.result = null;
    ui.results.hidden = true;
    ui.facesBlock.hidden = true;
    drawPhoto();
    showError(titleFor(response.status, detail), capitalize(detail) + ".");
    return;
  }
  state.result = body;
  state.face = body.query_face || 0;
  render();
}

const capitalize = (text) => (text ? text[0].toUpperCase() + text.slice(1) : text).replace(/[.]$/, "");

function render() {
  drawPhoto();
  renderFaces();
  renderMatches();
}

function renderFaces() {
  const faces = state.result.faces;
  ui.facesBlock.hidden = faces.length < 2;
  ui.faces.replaceChildren();
  if (faces.length < 2) return;
  faces.forEach((face, i) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "face-choice";
    button.setAttribute("aria-pressed", String(i === state.face));
    button.setAttribute("aria-label", `Face ${i + 1} of ${faces.length}`);
    button.dataset.face = String(i);
    const canvas = document.createElement("canvas");
    canvas.setAttribute("aria-hidden", "true");
    drawFace(canvas, face, 144);
    const label = document.createElement("span");
    label.textContent = `Face ${i + 1}`;
    button.append(canvas, label);
    button.addEventListener("click", () => chooseFace(i));
    ui.faces.append(button);
  });
}

function chooseFace(i) {
  if (!state.result || i === state.face) return;
  state.face = i; // every face's matches came with the first answer: no new request
  drawPhoto();
  for (const button of ui.faces.children) button.setAttribute("aria-pressed", String(Number(button.dataset.face) === i));
  renderMatches();
}

function renderMatches() {
  const result = state.result;
  const faces = result.faces;
  const face = faces[state.face];
  drawFace(ui.queryFace, face, 400);
  ui.queryCaption.textContent = faces.length > 1 ? `You (face ${state.face + 1} of ${faces.length})` : "You";
  ui.matches.replaceChildren();
  face.matches.forEach((match, rank) => ui.matches.append(matchCard(match, rank)));
  ui.noStrong.hidden = face.matches.some((m) => m.same_person);
  // The embedding map highlights these matches and places the face among them (by similarity).
  ui.mapLink.href = "/dashboard/embedding?match=" + face.matches.map((m) => `${m.image_id}:${m.similarity}`).join(",");
  const t = result.timings_ms || {};
  const stages = ["decode", "detect", "crop", "embed", "search"].filter((s) => s in t);
  ui.timings.textContent =
    stages.map((s) => `${s} ${Math.round(t[s])} ms`).join(" · ") + (t.total !== undefined ? ` — total ${Math.round(t.total)} ms` : "");
  ui.results.hidden = false;
}

function matchCard(match, rank) {
  const name = personName(match.person);
  const similarity = Math.max(0, Math.min(100, Number(match.similarity)));
  const li = document.createElement("li");
  li.className = `card match${match.same_person ? " same" : ""}`;

  const photo = document.createElement("div");
  photo.className = "match-photo";
  const img = document.createElement("img");
  // The square face cut from the gallery's original image (the whole image where a server predates it).
  img.src = match.face_url || match.image_url;
  img.alt = `${name}, gallery photo`;
  img.loading = "lazy";
  img.decoding = "async";
  img.width = 160;
  img.height = 160;
  const badgeRank = document.createElement("span");
  badgeRank.className = "match-rank";
  badgeRank.textContent = `#${rank + 1}`;
  photo.append(img, badgeRank);
  if (match.same_person) {
    const badge = document.createElement("span");
    badge.className = "badge badge-good";
    badge.textContent = "same person?";
    badge.title = "This match passes the same-person threshold fitted on LFW pairs";
    photo.append(badge);
  }

  const title = document.createElement("div");
  title.className = "match-name";
  title.textContent = name;

  const meter = document.createElement("div");
  meter.className = "meter";
  meter.setAttribute("role", "meter");
  meter.setAttribute("aria-valuemin", "0");
  meter.setAttribute("aria-valuemax", "100");
  meter.setAttribute("aria-valuenow", String(similarity));
  meter.setAttribute("aria-label", `Similarity to ${name}`);
  const bar = document.createElement("span");
  bar.style.width = `${similarity}%`;
  meter.append(bar);

  const score = document.createElement("div");
  score.className = "match-score";
  const percent = document.createElement("span");
  percent.className = "similarity";
  percent.textContent = `${similarity.toFixed(similarity >= 99.95 ? 0 : 1)}% similar`;
  const distance = document.createElement("span");
  distance.className = "match-distance";
  distance.textContent = `d ${Number(match.distance).toFixed(2)}`;
  distance.title = "Distance between the two faces' embeddings";
  score.append(percent, distance);

  li.append(photo, title, meter, score);
  return li;
}

ui.k.addEventListener("change", () => {
  if (state.blob) query();
});

// ---------- health ----------

async function checkHealth() {
  try {
    const response = await fetch("/health");
    const health = await response.json();
    const max = health.k && Number(health.k.max);
    if (max && max !== Number(ui.k.dataset.max)) {
      const current = Math.min(Number(ui.k.value), max);
      ui.k.replaceChildren(
        ...Array.from({ length: max }, (_, i) => new Option(String(i + 1), String(i + 1), false, i + 1 === current)),
      );
      ui.k.dataset.max = String(max);
    }
    if (health.status !== "ok") {
      ui.health.textContent = `The look-alike index is not ready yet (${health.reason || health.status}): matching will fail until it is built and loaded.`;
      ui.health.hidden = false;
    }
  } catch {
    // The page still works; /match will say what is wrong.
  }
}

checkHealth();
