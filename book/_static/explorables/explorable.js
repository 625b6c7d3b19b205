// The shared part of the explorable figures (backprop.explorables), the one script a page with
// a figure loads. A chapter cell wrote the figure's numbers to <name>.json beside this file
// and put <div data-explorable="<name>"> on the page; near the screen, this loads <name>.js,
// which calls Explorable.register(name, draw), and draw(root, data) builds the figure inside
// that div. The scripts only lay out and format the numbers:
// every number shown is one of the JSON's, and its element keeps it exactly in data-value,
// which the browser test compares with the package.
(() => {
  const base = document.currentScript.src.replace(/[^/]*$/, "");
  const SVG = "http://www.w3.org/2000/svg";
  let ids = 0;

  function el(tag, attrs = {}, parent = null, text = null) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== null) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function svg(tag, attrs = {}, parent = null, text = null) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== null) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  // A number as the figure shows it: whole numbers in full, others to `digits` significant
  // digits; a true minus sign, as in the formulas.
  function fmt(v, digits = 4) {
    let s;
    if (Number.isInteger(v)) s = String(v);
    else if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) {
      s = v.toExponential(digits - 1).replace(/\.?0+e/, "e").replace("e+", "e");
    } else s = String(Number(v.toPrecision(digits)));
    return s.replace(/-/g, "\u2212");
  }

  // Show v in node (text, rounded) and keep it whole in data-value.
  function put(node, v, digits = 4) {
    node.textContent = fmt(v, digits);
    node.dataset.value = String(v);
    return node;
  }

  // A keyed number: <span data-key="key" data-value="v">.
  function num(parent, key, v, digits = 4) {
    return put(el("span", { "data-key": key }, parent), v, digits);
  }

  const uid = (prefix) => `${prefix}-${++ids}`;

  // A legend under a chart, in HTML so that it wraps on a phone: [[line class, html], ...].
  function legend(parent, entries) {
    const list = el("ul", { class: "bx-legend" }, parent);
    for (const [cls, text] of entries) {
      const item = el("li", {}, list);
      svg("line", { class: cls, x1: 0, x2: 18, y1: 5, y2: 5 },
        svg("svg", { viewBox: "0 0 18 10", "aria-hidden": "true" }, item));
      el("span", {}, item).innerHTML = text;  // the figures' own text, with <sub> and <i>
    }
    return list;
  }

  // A figure's script and numbers are fetched, and the figure drawn, only when it comes near
  // the screen: a page's first paint waits for none of it (this file is the one script the
  // page loads for its figures), and a reader who never scrolls there downloads nothing more.
  const drawers = {}, waiting = {};
  function draw(root) {
    const name = root.dataset.explorable;
    fetch(`${base}${name}.json`)
      .then((response) => response.json())
      .then((data) => {
        // The description stays, as the figure's caption; the note for readers without
        // JavaScript goes.
        for (const note of root.querySelectorAll(".book-explorable-nojs")) note.remove();
        drawers[name](root, data);
        root.dataset.ready = "true";
      });
  }
  function wanted(root) {
    const name = root.dataset.explorable;
    if (drawers[name]) return draw(root);
    if (!waiting[name]) {
      waiting[name] = [];
      el("script", { src: `${base}${name}.js` }, document.head);
    }
    waiting[name].push(root);
  }
  // The figure's script calls this: register(name, draw), draw(root, data) builds the figure.
  function register(name, drawer) {
    drawers[name] = drawer;
    (waiting[name] || []).forEach(draw);
    delete waiting[name];
  }

  // What is watched is the figure's outermost subsection, not the figure: the book renders a
  // subsection only near the screen (content-visibility: auto in custom.css), and an
  // observer never sees an element inside one that is not rendered.
  const watched = new Map();
  const near = new IntersectionObserver((entries) => entries.forEach((e) => {
    if (e.isIntersecting && watched.has(e.target)) {
      near.unobserve(e.target);
      watched.get(e.target).forEach(wanted);
      watched.delete(e.target);
    }
  }), { rootMargin: "600px 0px" });
  for (const root of document.querySelectorAll("div[data-explorable]")) {
    const sections = [];
    for (let s = root.closest("section"); s; s = s.parentElement && s.parentElement.closest("section")) {
      sections.push(s);
    }
    const target = sections.length >= 2 ? sections[sections.length - 2] : root;
    if (!watched.has(target)) { watched.set(target, []); near.observe(target); }
    watched.get(target).push(root);
  }

  window.Explorable = { register, el, svg, fmt, put, num, uid, legend };
})();
