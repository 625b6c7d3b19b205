// Saturation (chapter 7): for a deep network at initial weight scale σ_w, the size of δ_l in
// every layer next to what the variance rule predicts, and how S'(z_l) is spread in each
// hidden layer; on the grid of backprop.explorables.saturation_grid.
Explorable.register("saturation", (root, data) => {
  const { el, svg, num, fmt, uid } = Explorable;
  const { p, sigmas, hidden, nets, bins } = data;
  const L = p.length - 1;
  const label = { logistic: "logistic", tanh: "tanh", relu: "ReLU" };
  const named = data.marks;  // [name, index into sigmas]: the scales the chapter names

  const controls = el("div", { class: "bx-controls" }, root);
  const group = el("fieldset", {}, controls);
  el("legend", { class: "visually-hidden" }, group, "Hidden activation");
  const radioName = uid("sat-act");
  const radios = hidden.map((h, i) => {
    const box = el("label", {}, group);
    const radio = el("input", { type: "radio", name: radioName, value: h }, box);
    if (i === 0) radio.checked = true;
    box.append(label[h] || h);
    return radio;
  });
  const row = el("div", { class: "bx-controls" }, root);
  const sliderId = uid("sat-sigma"), listId = uid("sat-marks");
  el("label", { for: sliderId }, row).innerHTML = "σ<sub>w</sub>";
  const slider = el("input", { type: "range", id: sliderId, min: 0, max: sigmas.length - 1,
    step: 1, list: listId }, row);
  const marks = el("datalist", { id: listId }, row);
  const jumps = el("div", { class: "bx-controls" }, root);
  for (const [n, i] of named) {
    el("option", { value: i, label: n }, marks);
    el("button", { type: "button", "data-sigma": i }, jumps, `${n}'s scale`)
      .addEventListener("click", () => { slider.value = String(i); show(); });
  }

  // --- ‖δ_l‖ against l on a log scale, measured and by the rule
  const W = 360, H = 200, left = 50, right = 10, top = 10, bottom = 34;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" }, root);
  const axes = svg("g", {}, chart), lines = svg("g", {}, chart);
  Explorable.legend(root, [["bx-a", "RMS ‖δ<sub><i>l</i></sub>‖, measured"], ["bx-b bx-dash", "by the variance rule"]]);
  const sx = (l) => left + ((l - 1) / (L - 1)) * (W - left - right);
  let sy;

  // --- S'(z_l) / max S' per hidden layer: one row of shaded bins per layer
  const HH = 200, hl = 50, hb = 34, ht = 8;
  const heat = svg("svg", { viewBox: `0 0 ${W} ${HH}`, role: "img" }, root);
  const rowH = (HH - ht - hb) / (L - 1), colW = (W - hl - right) / bins;
  const cells = [];
  for (let l = 1; l < L; l++) {
    svg("text", { x: hl - 6, y: ht + (l - 0.5) * rowH + 4, "text-anchor": "end" }, heat, String(l));
    cells.push(Array.from({ length: bins }, (_, b) => svg("rect", { x: hl + b * colW,
      y: ht + (l - 1) * rowH, width: colW - 1, height: rowH - 1 }, heat)));
  }
  for (const [v, anchor] of [[0, "start"], [0.5, "middle"], [1, "end"]])
    svg("text", { x: hl + v * bins * colW, y: HH - hb + 14, "text-anchor": anchor }, heat, fmt(v));
  svg("text", { x: (hl + W) / 2, y: HH - 4, "text-anchor": "middle", class: "bx-muted" }, heat,
    "S′(z) / max S′, for the (unit, example) pairs");
  svg("text", { x: 12, y: ht + (HH - ht - hb) / 2, "text-anchor": "middle", class: "bx-muted",
    transform: `rotate(-90 12 ${ht + (HH - ht - hb) / 2})` }, heat, "hidden layer l");
  const status = el("p", { class: "bx-status", "aria-live": "polite" }, root);

  function drawAxes(act) {
    // Drawing only: one log scale per activation, over all its σ_w, so that the curves move.
    const all = nets[act].flatMap((r) => [...r.rms, ...r.rule]).filter((v) => v > 0);
    const lo = Math.floor(Math.log10(Math.min(...all))), hi = Math.ceil(Math.log10(Math.max(...all)));
    sy = (v) => H - bottom - ((Math.log10(v) - lo) / (hi - lo)) * (H - top - bottom);
    axes.textContent = "";
    const every = Math.ceil((hi - lo) / 6);
    for (let e = lo; e <= hi; e += every) {
      svg("line", { class: "bx-axis", x1: left, x2: W - right, y1: sy(10 ** e), y2: sy(10 ** e),
        "stroke-opacity": 0.5 }, axes);
      svg("text", { x: left - 5, y: sy(10 ** e) + 4, "text-anchor": "end" }, axes,
        e === 0 ? "1" : `1e${e}`.replace("-", "\u2212"));
    }
    for (let l = 1; l <= L; l++)
      svg("text", { x: sx(l), y: H - bottom + 14, "text-anchor": "middle" }, axes, String(l));
    svg("text", { x: (left + W) / 2, y: H - 4, "text-anchor": "middle", class: "bx-muted" }, axes,
      "layer l");
  }

  let drawn = null;
  function show() {
    const act = radios.find((r) => r.checked).value, i = Number(slider.value), net = nets[act][i];
    if (drawn !== act) { drawAxes(act); drawn = act; }
    lines.textContent = "";
    for (const [key, cls] of [["rule", "bx-b bx-dash"], ["rms", "bx-a"]]) {
      svg("polyline", { class: cls, points: net[key].map((v, l) => `${sx(l + 1)},${sy(v)}`).join(" ") }, lines);
      if (key === "rms") net.rms.forEach((v, l) => svg("circle", { class: "bx-dot", r: 3.5,
        cx: sx(l + 1), cy: sy(v), "data-key": `rms${l + 1}`, "data-value": String(v) }, lines));
    }
    const total = net.hist[0].reduce((s, c) => s + c, 0);
    net.hist.forEach((counts, l) => counts.forEach((c, b) => {
      const rect = cells[l][b];
      rect.style.fill = `rgba(var(--bx-cell), ${c === 0 ? 0 : 0.12 + 0.88 * c / total})`;
      rect.style.stroke = "var(--bx-grid)";
      rect.dataset.key = `hist${l + 1}_${b + 1}`;
      rect.dataset.value = String(c);
    }));
    const sigma = sigmas[i], which = named.find(([, k]) => k === i);
    slider.setAttribute("aria-valuetext", `σ_w = ${fmt(sigma, 3)}${which ? ` (${which[0]}'s scale)` : ""}`);
    status.innerHTML = "";
    const part = (html) => { el("span", {}, status).innerHTML = html; };
    part(`${label[act]}, σ<sub>w</sub> = `); num(status, "sigma", sigma, 3);
    part(which ? ` (${which[0]}'s scale): ` : ": ");
    part("RMS ‖δ<sub>1</sub>‖ = "); num(status, "rms1", net.rms[0], 3);
    part(`, ‖δ<sub>${L}</sub>‖ = `); num(status, `rms${L}`, net.rms[L - 1], 3);
    part("; factor Var δ<sub>l−1</sub> / Var δ<sub>l</sub> per hidden layer (geometric mean): rule "
      + `<i>p</i><sub>l</sub> σ<sub>w</sub><sup>2</sup> E[<i>S</i>′<sup>2</sup>] = `);
    num(status, "factor", net.factor, 3);
    part(", measured "); num(status, "measured", net.measured, 3); part(".");
    chart.setAttribute("aria-label", `RMS size of δ_l in layers 1 to ${L}, ${label[act]} network, `
      + `σ_w = ${fmt(sigma, 3)}: from ${fmt(net.rms[L - 1], 3)} at the output to ${fmt(net.rms[0], 3)} at layer 1`);
    heat.setAttribute("aria-label", `How S′(z_l) is spread in each hidden layer, ${label[act]} network, σ_w = ${fmt(sigma, 3)}`);
  }
  for (const r of radios) r.addEventListener("change", show);
  slider.addEventListener("input", show);
  slider.value = String(named.length ? named[0][1] : 0);
  show();
});
