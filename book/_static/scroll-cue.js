// A displayed formula wider than its column scrolls sideways (custom.css); this marks it with
// the class book-scrolls, for which custom.css draws a shadow at its right edge, the sign
// that there is more. A formula is measured only when it comes near the screen, so that the
// sections a phone has not drawn yet (content-visibility: auto) are not laid out for it.
(() => {
  const mark = (el) => el.classList.toggle("book-scrolls", el.scrollWidth > el.clientWidth + 1);
  const near = new IntersectionObserver(
    (entries) => entries.forEach((e) => e.isIntersecting && mark(e.target)),
    { rootMargin: "200px 0px" },
  );
  const watch = () => {
    near.disconnect();
    document.querySelectorAll("div.math .katex-html").forEach((el) => near.observe(el));
  };
  watch();
  window.addEventListener("resize", watch);
})();
