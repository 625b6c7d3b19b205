// Algorithm 1, step by step (chapter 4): the trace of backprop.explorables.algorithm1_trace,
// one step per line of the algorithm (lines 3, 4 and 10 one unit at a time). The network is
// drawn as units and weights; the numbers fill in as the steps run, in the drawing, the
// table and the sentence under the buttons.
Explorable.register("alg1-steps", (root, data) => {
  const { el, svg, num, uid } = Explorable;
  const { p, steps } = data;
  const L = p.length - 1;
  const sub = (name, index) => `<i>${name}</i><sub>${index}</sub>`;
  const LINES = [
    `${sub("a", 0)} ← <i>x</i>`,
    `<b>for</b> <i>l</i> = 1, …, <i>L</i> <b>do</b>`,
    `&emsp;${sub("z", "l")} ← ${sub("W", "l")} ${sub("a", "l−1")} + ${sub("b", "l")}`,
    `&emsp;${sub("a", "l")} ← ${sub("S", "l")}(${sub("z", "l")})`,
    `${sub("δ", "L")} ← (∂${sub("S", "L")}/∂${sub("z", "L")}) (∂<i>C</i>/∂<i>g</i>)`,
    `${sub("z", 0)} ← 0`,
    `<b>for</b> <i>l</i> = <i>L</i>, …, 1 <b>do</b>`,
    `&emsp;∂<i>C</i>/∂${sub("b", "l")} ← ${sub("δ", "l")}`,
    `&emsp;∂<i>C</i>/∂${sub("W", "l")} ← ${sub("δ", "l")} ${sub("a", "l−1")}<sup>⊤</sup>`,
    `&emsp;${sub("δ", "l−1")} ← <i>S</i>′(${sub("z", "l−1")}) ⊙ ${sub("W", "l")}<sup>⊤</sup> ${sub("δ", "l")}`,
    `<b>return</b> ∂<i>C</i>/∂${sub("W", "l")}, ∂<i>C</i>/∂${sub("b", "l")}, <i>g</i>`,
  ];

  // --- the algorithm box, a copy of the chapter's, whose current line is marked
  const listing = el("ol", { class: "bx-alg", "aria-label": "Algorithm 1" }, root);
  const lineItems = LINES.map((html) => {
    const li = el("li", {}, listing);
    li.innerHTML = html;
    return li;
  });

  // --- the network: units in columns, weights as lines
  const width = 340, height = 250, r = 19;
  const x = (l) => 40 + (l * (width - 80)) / L;
  const y = (l, j) => height / 2 + (j - (p[l] + 1) / 2) * 74;
  const picture = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `The network with widths ${p.join(", ")}: units as circles, weights as lines` }, root);
  const edges = {};
  for (let l = 1; l <= L; l++)
    for (let j = 1; j <= p[l]; j++)
      for (let k = 1; k <= p[l - 1]; k++)
        edges[`${l}_${j}_${k}`] = svg("line", { class: "bx-edge", x1: x(l - 1) + r, y1: y(l - 1, k),
          x2: x(l) - r, y2: y(l, j) }, picture);
  const units = {};
  const label = (parent, tx, ty, name, key, cls = "") => {
    const t = svg("text", { x: tx, y: ty, "text-anchor": "middle", class: cls }, parent);
    if (name) svg("tspan", { class: "bx-muted" }, t, `${name} `);
    svg("tspan", { "data-key": key }, t, "·");
  };
  for (let l = 0; l <= L; l++) {
    svg("text", { x: x(l), y: 14, "text-anchor": "middle", class: "bx-muted" }, picture,
      l === 0 ? "input" : l === L ? "output" : `layer ${l}`);
    for (let j = 1; j <= p[l]; j++) {
      units[`${l}_${j}`] = svg("circle", { class: "bx-unit", cx: x(l), cy: y(l, j), r }, picture);
      label(picture, x(l), y(l, j) + 4.5, "", `a${l}_${j}`);
      if (l > 0) label(picture, x(l), y(l, j) - r - 5, "z", `z${l}_${j}`);
      if (l > 0) label(picture, x(l), y(l, j) + r + 15, "δ", `d${l}_${j}`);
    }
  }
  label(picture, x(L), y(L, 1) + r + 33, "C", "C");  // the cost, from line 5 on

  // --- the controls and the sentence that says what the current step did
  const controls = el("div", { class: "bx-controls" }, root);
  const buttons = {};
  for (const [name, text] of [["start", "« Start"], ["back", "‹ Back"], ["next", "Next ›"],
    ["end", "End »"]])
    buttons[name] = el("button", { type: "button", "data-action": name }, controls, text);
  const sliderId = uid("alg1-step");
  el("label", { for: sliderId }, controls, "Step");
  const slider = el("input", { type: "range", id: sliderId, min: 0, max: steps.length, step: 1,
    value: 0 }, controls);
  const status = el("p", { class: "bx-status", "aria-live": "polite" }, root);

  // --- the table of every number, filled in as the steps run
  const tableBox = el("div", { class: "bx-table" }, root);
  const table = el("table", {}, tableBox);
  const head = el("tr", {}, el("thead", {}, table));
  for (const h of ["l", "z<sub>l</sub>", "a<sub>l</sub>", "S′(z<sub>l</sub>)", "δ<sub>l</sub>",
    "∂C/∂b<sub>l</sub>", "∂C/∂W<sub>l</sub>"]) el("th", { scope: "col" }, head).innerHTML = h;
  const body = el("tbody", {}, table);
  const vector = (cell, prefix, n) => {
    cell.append("(");
    for (let j = 1; j <= n; j++) {
      if (j > 1) cell.append(", ");
      el("span", { "data-key": `${prefix}_${j}` }, cell, "·");
    }
    cell.append(")");
  };
  for (let l = 0; l <= L; l++) {
    const row = el("tr", {}, body);
    el("th", { scope: "row" }, row, String(l));
    const cells = [0, 1, 2, 3, 4, 5].map(() => el("td", {}, row));
    if (l === 0) { vector(cells[1], "a0", p[0]); continue; }
    vector(cells[0], `z${l}`, p[l]);
    vector(cells[1], `a${l}`, p[l]);
    if (l < L) vector(cells[2], `s${l}`, p[l]);
    else cells[2].textContent = "(output)";
    vector(cells[3], `d${l}`, p[l]);
    vector(cells[4], `db${l}`, p[l]);
    cells[5].append("[");
    for (let j = 1; j <= p[l]; j++) {
      if (j > 1) cells[5].append("; ");
      for (let k = 1; k <= p[l - 1]; k++) {
        if (k > 1) cells[5].append(", ");
        el("span", { "data-key": `dW${l}_${j}_${k}` }, cells[5], "·");
      }
    }
    cells[5].append("]");
  }

  const activation = (l) => (l === L ? "the identity" : data.hidden === "relu" ? "the ReLU"
    : data.hidden);
  function describe(step, values) {
    const { line, l, unit: j } = step;
    const n = (key) => `<span data-key="${key}"></span>`;
    const vec = (prefix, m) => `(${Array.from({ length: m }, (_, i) => n(`${prefix}_${i + 1}`)).join(", ")})`;
    switch (line) {
      case 1: return `Line 1: ${sub("a", 0)} ← <i>x</i> = ${vec("a0", p[0])}.`;
      case 3: return `Line 3, <i>l</i> = ${l}, unit ${j}: ${sub("z", `${l},${j}`)} = ${sub("W", l)}[${j}, :] ${sub("a", l - 1)} + ${sub("b", l)}[${j}] = ${n(`z${l}_${j}`)}.`;
      case 4: return `Line 4, <i>l</i> = ${l}, unit ${j}: ${sub("a", `${l},${j}`)} = ${sub("S", l)}(${sub("z", `${l},${j}`)}) = ${n(`a${l}_${j}`)}, with ${activation(l)}.`;
      case 5: return `Line 5: ${sub("δ", L)} = (∂${sub("S", "L")}/∂${sub("z", "L")}) (∂<i>C</i>/∂<i>g</i>) = ${vec(`d${L}`, p[L])}; the cost is <i>C</i> = ${n("C")}.`;
      case 6: return `Line 6: ${sub("z", 0)} ← 0, which only lets line 10 run for <i>l</i> = 1.`;
      case 8: return `Line 8, <i>l</i> = ${l}: ∂<i>C</i>/∂${sub("b", l)} = ${sub("δ", l)} = ${vec(`db${l}`, p[l])}.`;
      case 9: return `Line 9, <i>l</i> = ${l}: ∂<i>C</i>/∂${sub("W", l)} = ${sub("δ", l)} ${sub("a", l - 1)}<sup>⊤</sup>: the derivative by each marked weight is the error at its head times the activation at its tail.`;
      case 10:
        if (l === 1) return `Line 10, <i>l</i> = 1: ${sub("δ", 0)} = ${sub("W", 1)}<sup>⊤</sup> ${sub("δ", 1)} is computed and thrown away.`;
        return `Line 10, <i>l</i> = ${l}, unit ${j} of layer ${l - 1}: <i>S</i>′(${sub("z", `${l - 1},${j}`)}) = ${n(`s${l - 1}_${j}`)}, so ${sub("δ", `${l - 1},${j}`)} = <i>S</i>′(${sub("z", `${l - 1},${j}`)}) (${sub("W", l)}<sup>⊤</sup> ${sub("δ", l)})<sub>${j}</sub> = ${n(`d${l - 1}_${j}`)}${values[`s${l - 1}_${j}`] === 0 ? ": the unit is off and passes no error back" : ""}.`;
      case 11: return `Line 11: return the derivatives for <i>l</i> = 1, …, ${L} and <i>g</i> = ${n("g")}.`;
      default: return "";
    }
  }

  function show(i) {
    i = Math.max(0, Math.min(steps.length, i));
    slider.value = String(i);
    slider.setAttribute("aria-valuetext", `step ${i} of ${steps.length}`);
    const values = {};
    for (const step of steps.slice(0, i)) Object.assign(values, step.set);
    const step = i > 0 ? steps[i - 1] : null;
    status.innerHTML = step ? `Step ${i} of ${steps.length}. ${describe(step, values)}`
      : `Step 0 of ${steps.length}: nothing computed yet. Next runs line 1.`;
    const fresh = new Set(step ? Object.keys(step.set) : []);
    for (const node of root.querySelectorAll("[data-key]")) {
      const key = node.dataset.key;
      if (key in values) Explorable.put(node, values[key]);
      else { node.textContent = "·"; delete node.dataset.value; }
      node.classList.toggle("bx-current", fresh.has(key) && node.tagName === "SPAN"
        && !status.contains(node));
    }
    lineItems.forEach((li, k) => {
      const current = step !== null && step.line === k + 1;
      li.classList.toggle("bx-current", current);
      if (current) li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
    });
    // The weights and units the step reads or writes.
    for (const [key, edge] of Object.entries(edges)) {
      const [l, j, k] = key.split("_").map(Number);
      const on = step !== null && step.l === l && ((step.line === 3 && step.unit === j)
        || step.line === 9 || (step.line === 10 && step.unit === k));
      edge.classList.toggle("bx-on", on);
    }
    for (const [key, unit] of Object.entries(units)) {
      const [l, j] = key.split("_").map(Number);
      const on = step !== null && ((step.unit === j && ((step.line <= 4 && step.l === l)
        || (step.line === 10 && step.l - 1 === l))) || (step.line === 5 && l === L)
        || (step.line === 1 && l === 0));
      unit.classList.toggle("bx-on", on);
    }
  }

  const current = () => Number(slider.value);
  buttons.start.addEventListener("click", () => show(0));
  buttons.back.addEventListener("click", () => show(current() - 1));
  buttons.next.addEventListener("click", () => show(current() + 1));
  buttons.end.addEventListener("click", () => show(steps.length));
  slider.addEventListener("input", () => show(current()));
  show(0);
});
