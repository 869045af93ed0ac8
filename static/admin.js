// The admin page: keeps the token in sessionStorage, calls /admin/* with it, polls rebuild jobs once a second.
(() => {
  "use strict";
  const KEY = "doppelganger-admin-token";
  const $ = (id) => document.getElementById(id);
  const tokenCard = $("token-card");
  const panel = $("admin-panel");
  if (!tokenCard || tokenCard.hidden) return; // admin switched off on the server
  let polling = null;

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
    return node;
  }

  class AuthError extends Error {}

  async function api(method, path, body) {
    const token = sessionStorage.getItem(KEY) || "";
    const response = await fetch(path, { method, body, headers: { Authorization: `Bearer ${token}` } });
    let data = null;
    try { data = await response.json(); } catch { data = null; }
    if (response.status === 401 || response.status === 403) {
      throw new AuthError((data && data.detail) || `refused (${response.status})`);
    }
    if (!response.ok) throw new Error((data && data.detail) || `request failed (${response.status})`);
    return data;
  }

  function showError(error) {
    if (error instanceof AuthError) { signOut(error.message); return; }
    const box = $("admin-error");
    box.textContent = error.message;
    box.hidden = false;
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    if (polling) clearTimeout(polling);
    panel.hidden = true;
    tokenCard.hidden = false;
    const box = $("token-error");
    box.textContent = message || "";
    box.hidden = !message;
    $("token-input").focus();
  }

  async function signIn() {
    try {
      const status = await api("GET", "/admin/status");
      tokenCard.hidden = true;
      $("token-error").hidden = true;
      panel.hidden = false;
      renderStatus(status);
      refreshHistory();
      refreshPeople();
      if (status.rebuild) watch(status.rebuild.id);
    } catch (error) {
      if (error instanceof AuthError) signOut(error.message); else showError(error);
    }
  }

  // ------------------------------------------------------------------------------------------ status

  function stat(value, label) {
    return el("div", { class: "stat" }, el("div", { class: "stat-value" }, value), el("div", { class: "stat-label" }, label));
  }

  function renderStatus(status) {
    const badge = $("status-badge");
    badge.textContent = status.status === "ok" ? "serving" : status.status;
    badge.className = `badge ${status.status === "ok" ? "badge-good" : "badge-warn"}`;
    const stats = $("status-stats");
    const facts = $("status-facts");
    stats.replaceChildren();
    facts.replaceChildren();
    const index = status.index;
    if (!index) {
      stats.append(el("p", { class: "muted" }, `No index yet in ${status.index_dir}${status.reason ? `: ${status.reason}` : ""}. Start a full rebuild.`));
      return;
    }
    const s = index.stats || {};
    stats.append(
      stat(index.images.toLocaleString(), "images"),
      stat(index.people == null ? "–" : index.people.toLocaleString(), "people"),
      stat(index.dim, "dimensions"),
      stat(`${index.build_seconds.toFixed(1)} s`, "last build"),
    );
    const add = (term, value) => facts.append(el("dt", {}, term), el("dd", {}, value));
    add("Version", index.version);
    add("Built", new Date(index.built_at).toLocaleString());
    add("Model run", index.model_run);
    add("Model hash", el("code", { title: index.model_hash }, index.model_hash.slice(0, 16)));
    add("FAISS factory", el("code", {}, index.factory));
    add("Build stats", `${s.embedded ?? "?"} embedded, ${s.kept ?? "?"} kept, ${s.removed ?? "?"} removed, ${s.skipped ?? "?"} skipped` +
      (s.images_per_second ? `, ${s.images_per_second} images/s` : ""));
    add("Galleries", index.galleries.map((g) => `${g.prefix || "(main)"} ${g.root} [${g.kind}]`).join(" · "));
    const added = Object.entries(status.added_people || {});
    add("Added people", added.length ? added.map(([p, n]) => `${p} (${n})`).join(", ") : "none");
    add("Excluded people", (status.excluded_people || []).join(", ") || "none");
    if (status.live_version_on_disk && status.live_version_on_disk !== index.version) {
      add("On disk", `version ${status.live_version_on_disk} is published but not served (restart the server to load it)`);
    }
  }

  async function refreshStatus() {
    try { renderStatus(await api("GET", "/admin/status")); } catch (error) { showError(error); }
  }

  // ------------------------------------------------------------------------------------------ jobs

  const STATE_BADGE = { queued: "badge", running: "badge badge-warn", succeeded: "badge badge-good", failed: "badge badge-bad" };

  function renderJob(job) {
    $("job").hidden = false;
    const state = $("job-state");
    state.textContent = job.state;
    state.className = STATE_BADGE[job.state] || "badge";
    $("job-count").textContent = job.total ? `${job.done} / ${job.total} images embedded` : job.full ? "full rebuild" : "incremental rebuild";
    const fraction = job.state === "succeeded" ? 1 : job.total ? job.done / job.total : 0;
    $("job-bar").style.width = `${Math.round(100 * fraction)}%`;
    $("job-message").textContent = job.message;
    const busy = job.state === "queued" || job.state === "running";
    $("rebuild-incremental").disabled = busy;
    $("rebuild-full").disabled = busy;
  }

  function watch(id) {
    if (polling) clearTimeout(polling);
    const tick = async () => {
      try {
        const job = await api("GET", `/admin/jobs/${encodeURIComponent(id)}`);
        renderJob(job);
        if (job.state === "queued" || job.state === "running") {
          polling = setTimeout(tick, 1000);
        } else {
          polling = null;
          refreshStatus();
          refreshHistory();
          refreshPeople();
        }
      } catch (error) { showError(error); }
    };
    tick();
  }

  async function rebuild(full) {
    $("admin-error").hidden = true;
    try {
      const started = await api("POST", `/admin/rebuild?full=${full}`);
      watch(started.job);
      refreshHistory();
    } catch (error) { showError(error); }
  }

  async function refreshHistory() {
    try {
      const { jobs } = await api("GET", "/admin/jobs");
      const body = $("history").querySelector("tbody");
      body.replaceChildren();
      if (!jobs.length) body.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No rebuild yet.")));
      for (const job of jobs) {
        const when = job.started_at || job.created_at;
        body.append(el("tr", {},
          el("td", {}, when ? new Date(when).toLocaleString() : ""),
          el("td", {}, job.full ? "full" : "incremental"),
          el("td", {}, job.reason),
          el("td", {}, el("span", { class: STATE_BADGE[job.state] || "badge" }, job.state)),
          el("td", {}, job.version || ""),
          el("td", { class: "message" }, job.message),
        ));
      }
    } catch (error) { showError(error); }
  }

  async function refreshPeople() {
    try {
      const { people } = await api("GET", "/admin/people");
      const list = $("people-list");
      list.replaceChildren(...people.map(([name]) => el("option", { value: name })));
    } catch (error) { showError(error); }
  }

  // ------------------------------------------------------------------------------------------ gallery

  function report(box, data, verb) {
    box.hidden = false;
    box.className = "alert alert-ok";
    const people = Object.entries(data.added || {}).map(([p, files]) => `${p} (${files.length})`).join(", ");
    box.replaceChildren(el("strong", {}, `${verb} ${data.count} photo${data.count === 1 ? "" : "s"}: ${people}.`),
      "Rebuilding the index…");
    const skipped = Object.entries(data.skipped || {});
    if (skipped.length) {
      box.className = "alert alert-warn";
      box.append(el("ul", { class: "skipped" }, ...skipped.map(([name, why]) => el("li", {}, `${name}: ${why}`))));
    }
  }

  async function upload(form, box) {
    box.hidden = true;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const data = await api("POST", "/admin/gallery", new FormData(form));
      report(box, data, "Added");
      form.reset();
      watch(data.job);
      refreshStatus();
    } catch (error) {
      if (error instanceof AuthError) { showError(error); return; }
      box.hidden = false;
      box.className = "alert alert-error";
      box.textContent = error.message;
    } finally {
      button.disabled = false;
    }
  }

  $("add-photos-form").addEventListener("submit", (event) => { event.preventDefault(); upload(event.target, $("add-result")); });
  $("add-zip-form").addEventListener("submit", (event) => { event.preventDefault(); upload(event.target, $("add-result")); });

  $("remove-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const person = $("remove-name").value.trim();
    const box = $("remove-result");
    if (!person || !window.confirm(`Remove ${person} from the gallery and rebuild the index?`)) return;
    try {
      const data = await api("DELETE", `/admin/gallery/${encodeURIComponent(person)}`);
      box.hidden = false;
      box.className = "alert alert-ok";
      box.textContent = data.removed === "deleted" ? `${person}'s photos were deleted; rebuilding…` : `${person} is excluded from the index; rebuilding…`;
      event.target.reset();
      watch(data.job);
      refreshStatus();
    } catch (error) {
      if (error instanceof AuthError) { showError(error); return; }
      box.hidden = false;
      box.className = "alert alert-error";
      box.textContent = error.message;
    }
  });

  // ------------------------------------------------------------------------------------------ start

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("token-input").value.trim());
    $("token-input").value = "";
    signIn();
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("rebuild-incremental").addEventListener("click", () => rebuild(false));
  $("rebuild-full").addEventListener("click", () => rebuild(true));

  if (sessionStorage.getItem(KEY)) signIn();
})();
