// The accuracy dashboard: ROC, per-epoch curves and confusions drawn from the data embedded in the page.
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const { lines, palette } = window.DoppelPlot;
  const served = data.served && !data.served.error ? data.served : null;
  const runs = [...(served ? [served] : []), ...data.runs.filter((r) => !r.error)];
  const colours = palette(runs.length);
  const name = (run) => (run === served ? `served: ${run.label}` : run.label);
  const style = (run, i) => ({ name: name(run), color: colours[i], width: run === served ? 3 : 1.5 });

  lines(document.getElementById("roc-chart"), {
    series: runs.map((run, i) => (run.roc ? { ...style(run, i), x: run.roc.fpr, y: run.roc.tpr } : { x: [] })),
    xDomain: [0, 1], yDomain: [0, 1], xLabel: "false positive rate", yLabel: "true positive rate",
    diagonal: true, height: 340, title: "ROC of LFW View 2", empty: "No run has LFW View 2 results.",
  });

  const closed = runs.every((run) => run.curves.every((m) => m.val_knn1_acc !== undefined));
  const valKey = closed ? "val_knn1_acc" : "val_map_at_r";
  const curve = (run, key) => {
    const points = run.curves.filter((m) => m[key] !== undefined && m[key] !== null);
    return { x: points.map((m) => m.epoch), y: points.map((m) => m[key]) };
  };
  lines(document.getElementById("val-chart"), {
    series: runs.map((run, i) => ({ ...style(run, i), ...curve(run, valKey), markers: true })),
    xLabel: "epoch", yLabel: closed ? "validation 1-NN accuracy (%)" : "validation MAP@R (%)",
    percentY: true, integerX: true, empty: "No metrics.jsonl to plot.",
  });
  const losses = runs.flatMap((run) => curve(run, "loss").y).filter((v) => v > 0);
  lines(document.getElementById("loss-chart"), {
    series: runs.map((run, i) => ({ ...style(run, i), ...curve(run, "loss"), markers: true })),
    xLabel: "epoch", yLabel: "mean loss per batch", integerX: true,
    logY: losses.length > 0 && Math.max(...losses) > 10 * Math.min(...losses), empty: "No metrics.jsonl to plot.",
  });

  // Confusions: one run at a time.
  const select = document.getElementById("confusion-run");
  const list = document.getElementById("confusions");
  const withConfusions = runs.filter((run) => run.confusions && run.confusions.length);
  for (const run of withConfusions) {
    const option = document.createElement("option");
    option.value = run.name;
    option.textContent = name(run);
    select.append(option);
  }

  function face(url, person, role) {
    const figure = document.createElement("figure");
    figure.className = "confusion-face";
    if (url) {
      const img = document.createElement("img");
      img.src = url;
      img.alt = `${person.replaceAll("_", " ")} (${role})`;
      img.loading = "lazy";
      img.width = 96;
      img.height = 96;
      figure.append(img);
    } else {
      const none = document.createElement("div");
      none.className = "confusion-missing";
      none.textContent = "not in the gallery";
      figure.append(none);
    }
    const caption = document.createElement("figcaption");
    caption.textContent = person.replaceAll("_", " ");
    figure.append(caption);
    return figure;
  }

  function showConfusions() {
    list.replaceChildren();
    const run = withConfusions.find((r) => r.name === select.value);
    if (!run) {
      const item = document.createElement("li");
      item.className = "muted";
      item.textContent = "No run has recorded confusions (closed-set evaluations only).";
      list.append(item);
      select.disabled = true;
      return;
    }
    for (const c of run.confusions) {
      const item = document.createElement("li");
      item.className = "confusion";
      const arrow = document.createElement("span");
      arrow.className = "confusion-arrow";
      const count = document.createElement("small");
      count.textContent = `${c.count} test image${c.count === 1 ? "" : "s"}`;
      arrow.append("taken for →", document.createElement("br"), count);
      item.append(face(c.true_image, c.true, "true person"), arrow, face(c.predicted_image, c.predicted, "predicted person"));
      list.append(item);
    }
  }
  select.addEventListener("change", showConfusions);
  showConfusions();
})();
