// Nudge a weight (chapter 4): the cost C as a function of one weight W_l[j, k], the tangent
// whose slope back-propagation gives (δ_l[j] a_{l-1}[k]) and the central difference, on the
// grid of backprop.explorables.nudge_curves. Where a ReLU unit switches, C has a kink, and
// there the two slopes part.
Explorable.register("nudge", (root, data) => {
  const { el, svg, num, fmt, uid } = Explorable;
  const { values, curves } = data;
  const name = (c) => `W${"₀₁₂₃₄₅₆₇₈₉"[c.l]}[${c.j}, ${c.k}]`;  // W₁[2, 1], as in the text

  const controls = el("div", { class: "bx-controls" }, root);
  const selectId = uid("nudge-weight"), sliderId = uid("nudge-value");
  el("label", { for: selectId }, controls, "Weight");
  const select = el("select", { id: selectId }, controls);
  curves.forEach((c, i) => el("option", { value: i }, select, name(c)));
  el("label", { for: sliderId }, controls, "Value");
  const slider = el("input", { type: "range", id: sliderId, min: 0, max: values.length - 1,
    step: 1 }, controls);

  const W = 360, H = 220, left = 46, right = 10, top = 10, bottom = 34;
  const picture = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" }, root);
  const clipId = uid("nudge-clip");
  svg("rect", { x: left, y: top, width: W - left - right, height: H - top - bottom },
    svg("clipPath", { id: clipId }, svg("defs", {}, picture)));
  const axes = svg("g", {}, picture);
  const plot = svg("g", { "clip-path": `url(#${clipId})` }, picture);
  Explorable.legend(root, [["bx-a", "cost <i>C</i>"], ["bx-b", "slope by back-propagation"],
    ["bx-b bx-dash", "central difference"]]);
  const status = el("p", { class: "bx-status", "aria-live": "polite" }, root);

  // Drawing only: screen coordinates of the plotted numbers, and round axis ticks.
  let sx, sy;
  const ticks = (lo, hi, n) => {
    const raw = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(v);
    return out;
  };

  function drawCurve(c) {
    axes.textContent = plot.textContent = "";
    const lo = Math.min(...c.C), hi = Math.max(...c.C), pad = 0.08 * (hi - lo || 1);
    const [t0, t1] = [values[0], values[values.length - 1]];
    sx = (t) => left + ((t - t0) / (t1 - t0)) * (W - left - right);
    sy = (v) => H - bottom - ((v - lo + pad) / (hi - lo + 2 * pad)) * (H - top - bottom);
    svg("line", { class: "bx-axis", x1: left, x2: W - right, y1: H - bottom, y2: H - bottom }, axes);
    svg("line", { class: "bx-axis", x1: left, x2: left, y1: top, y2: H - bottom }, axes);
    for (const t of ticks(t0, t1, 8))
      svg("text", { x: sx(t), y: H - bottom + 14, "text-anchor": "middle" }, axes, fmt(t));
    for (const v of ticks(lo - pad, hi + pad, 4))
      svg("text", { x: left - 5, y: sy(v) + 4, "text-anchor": "end" }, axes, fmt(v, 3));
    svg("text", { x: (left + W - right) / 2, y: H - 4, "text-anchor": "middle", class: "bx-muted" },
      axes, `value of ${name(c)}`);
    for (const t of c.kinks) {
      svg("line", { class: "bx-axis bx-dash", x1: sx(t), x2: sx(t), y1: top, y2: H - bottom }, plot);
      svg("text", { x: sx(t) + 3, y: top + 12, class: "bx-muted", "data-key": "kink",
        "data-value": String(t) }, plot, `unit ${c.j} switches`);
    }
    svg("polyline", { class: "bx-a", points: values.map((t, i) => `${sx(t)},${sy(c.C[i])}`).join(" ") }, plot);
    drawCurve.tangent = svg("line", { class: "bx-b" }, plot);
    drawCurve.secant = svg("line", { class: "bx-b bx-dash" }, plot);
    drawCurve.dot = svg("circle", { class: "bx-dot", r: 4.5 }, plot);
  }

  function line(node, t, C, slope) {
    const w = 0.2 * (values[values.length - 1] - values[0]);  // half its length, in t
    node.setAttribute("x1", sx(t - w)); node.setAttribute("y1", sy(C - slope * w));
    node.setAttribute("x2", sx(t + w)); node.setAttribute("y2", sy(C + slope * w));
  }

  function show() {
    const c = curves[Number(select.value)], i = Number(slider.value), t = values[i];
    line(drawCurve.tangent, t, c.C[i], c.slope[i]);
    line(drawCurve.secant, t, c.C[i], c.cd[i]);
    drawCurve.dot.setAttribute("cx", sx(t));
    drawCurve.dot.setAttribute("cy", sy(c.C[i]));
    slider.setAttribute("aria-valuetext", `${name(c)} = ${fmt(t)}`);
    const sub = (s, x) => `${s}<sub>${x}</sub>`;
    status.innerHTML = "";
    const part = (html) => { const s = el("span", {}, status); s.innerHTML = html; };
    part(`${sub("<i>W</i>", c.l)}[${c.j}, ${c.k}] = `); num(status, "t", t);
    part(`: <i>C</i> = `); num(status, "C", c.C[i], 6);
    part(`; back-propagation: ${sub("δ", c.l)}[${c.j}] = `); num(status, "delta", c.delta[i], 6);
    part(`, ${sub("<i>a</i>", c.l - 1)}[${c.k}] = `); num(status, "a", c.a[i], 6);
    part(`, slope ${sub("δ", c.l)}[${c.j}] ${sub("<i>a</i>", c.l - 1)}[${c.k}] = `);
    num(status, "slope", c.slope[i], 6);
    part(`; central difference (step ${fmt(data.h)}·max(1, |<i>w</i>|)) = `); num(status, "cd", c.cd[i], 6);
    if (c.l < data.p.length - 1) {
      part(`; ${sub("<i>z</i>", `${c.l},${c.j}`)} = `); num(status, "z", c.z[i], 6);
      part(c.z[i] > 0 ? " (unit on)." : " (unit off).");
    } else part(".");
    picture.setAttribute("aria-label", `The cost C against ${name(c)}, with the tangent at ${fmt(t)}`);
  }

  function choose() {
    const c = curves[Number(select.value)];
    drawCurve(c);
    slider.value = String(values.indexOf(c.value));
    show();
  }
  select.addEventListener("change", choose);
  slider.addEventListener("input", show);
  choose();
});
