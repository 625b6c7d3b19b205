"""The explorable figures of the built book, operated in Chromium (run by ``make test`` after
the book build, like tests/test_book_html.py, whose server and browser it shares).

Each figure's page is opened at 390 px and 1280 px, in light and dark mode; every control is
worked with the mouse (click, drag) and the keyboard, and at each position every number the
figure shows (its ``data-value``, and the rounded text beside it) is compared with the
package's own computation, here and now: the chapter's cell wrote the figure's JSON, and
this test does not read it. Numbers that are exact (the hand example's integers, the cost
along one weight on a grid of eighths, counts) must agree to a relative 1e-12; the measured
sizes of the saturation figure to 1e-9 (RTOL_MEASURED).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from test_book_html import HTML, LOCAL_HOSTS, browser_context, pytestmark, server  # noqa: F401
from test_explorables import hand_network

import backprop as bp

RTOL = 1e-12
# The saturation figure's sizes of δ_l are sums over 3,200 products through 11 layers: another
# machine's summation order moves them by up to about 1e-12 (7e-13 measured), and the page
# shows the chapter's run. They are measurements, not exact quantities.
RTOL_MEASURED = 1e-9
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
CONFIGS = [(size, scheme) for size in VIEWPORTS for scheme in ("light", "dark")]


def close(shown: float, expected: float, rtol: float = RTOL) -> bool:
    return abs(shown - expected) <= rtol * abs(expected) or shown == expected


def text_number(text: str) -> float:
    return float(text.replace("\u2212", "-"))


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda c: f"{c[0]}-{c[1]}")
def page(request, browser_context, server):  # noqa: F811
    """A page in a fresh context of the given size and colour scheme; console errors fail."""
    size, scheme = request.param
    from urllib.parse import urlsplit

    context = browser_context.browser.new_context(
        service_workers="block", viewport=VIEWPORTS[size], color_scheme=scheme)
    context.route("**/*", lambda route: route.continue_() if urlsplit(route.request.url)
                  .hostname in LOCAL_HOSTS else route.abort())
    tab = context.new_page()
    tab.errors = []
    tab.on("console", lambda m: m.type == "error" and tab.errors.append(m.text))
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))
    tab.server, tab.size, tab.scheme = server, size, scheme
    yield tab
    context.close()


def open_figure(page, chapter: str, name: str):
    page.goto(page.server + f"book/{chapter}.html", wait_until="load")
    figure = page.locator(f'div[data-explorable="{name}"]')
    # A figure is drawn when its subsection comes near the screen. The book lays out a
    # subsection only then (content-visibility: auto), and a jump to an element inside one
    # lands where the unrendered placeholders put it; every subsection is drawn first (as
    # test_book_html's checks do), then the figure scrolled to.
    page.evaluate("document.querySelectorAll('.bd-article section')"
                  ".forEach(s => s.style.contentVisibility = 'visible')")
    figure.scroll_into_view_if_needed()
    page.wait_for_selector(f'div[data-explorable="{name}"][data-ready="true"]', timeout=15_000)
    figure.scroll_into_view_if_needed()
    check_layout(page, figure)
    return figure


def check_layout(page, figure):
    """The figure fits the column (no sideways scrolling of the page) and draws in the
    theme's colours: its text is the page's text colour, on the page's background."""
    report = figure.evaluate("""root => {
      const bg = e => { for (; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;
                        if (!/rgba\\(0, 0, 0, 0\\)|transparent/.test(c)) return c; } return 'none'; };
      const text = root.querySelector('svg text:not(.bx-muted)');
      return {page: document.documentElement.scrollWidth, view: window.innerWidth,
              right: root.getBoundingClientRect().right,
              fill: getComputedStyle(text).fill, color: getComputedStyle(document.body).color,
              figureBg: bg(root), bodyBg: bg(document.body)};
    }""")
    assert report["page"] <= report["view"] and report["right"] <= report["view"], report
    assert report["fill"] == report["color"] and report["figureBg"] == report["bodyBg"], report


def shown(figure) -> list[tuple[str, float, str]]:
    """(key, data-value, text) of every keyed number the figure shows."""
    return [(k, float(v), t) for k, v, t in figure.evaluate("""root =>
      Array.from(root.querySelectorAll('[data-key][data-value]'))
        .map(e => [e.dataset.key, e.dataset.value, e.textContent])""")]


def drag(page, slider, fraction: float) -> int:
    """Drag a range input's thumb from its left end to `fraction` of its width; its value."""
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + fraction * box["width"], y, steps=6)
    page.mouse.up()
    return int(slider.input_value())


# ------------------------------------------------------------------ Algorithm 1, step by step


def algorithm1_numbers() -> dict:
    """Every number of the step-by-step figure, from net.forward and bp.algorithm1."""
    net, x, y = hand_network()
    zs, activations = net.forward(x[None, :])
    dC_dW, dC_db, g = bp.algorithm1(net, x, y)
    ref = {f"a0_{k + 1}": x[k] for k in range(2)}
    for l in (1, 2):
        for j in range(net.p[l]):
            ref[f"z{l}_{j + 1}"] = zs[l - 1][0, j]
            ref[f"a{l}_{j + 1}"] = activations[l][0, j]
            ref[f"d{l}_{j + 1}"] = ref[f"db{l}_{j + 1}"] = dC_db[l - 1][j]
            for k in range(net.p[l - 1]):
                ref[f"dW{l}_{j + 1}_{k + 1}"] = dC_dW[l - 1][j, k]
    for j in range(3):
        ref[f"s1_{j + 1}"] = net.S(1).S_prime(zs[0][0])[j]
    ref["C"], ref["g"] = net.loss(x[None, :], y[None, :]), g[0]
    return ref


def check_algorithm1(figure, ref, lines, step):
    values = shown(figure)
    for key, value, text in values:
        assert close(value, ref[key]), (step, key, value, ref[key])
        assert text_number(text) == value, (key, text)  # whole numbers, shown in full
    current = figure.evaluate("root => Array.from(root.querySelectorAll('.bx-alg li'))"
                              ".findIndex(li => li.classList.contains('bx-current'))")
    assert current == (lines[step - 1] - 1 if step else -1), (step, current)
    return {key for key, _, _ in values}


def test_algorithm1_step_by_step(page):
    ref = algorithm1_numbers()
    net, x, y = hand_network()
    lines = [s["line"] for s in bp.explorables.algorithm1_trace(net, x, y)["steps"]]
    figure = open_figure(page, "04_algorithm1", "alg1-steps")
    slider = figure.locator("input[type=range]")
    assert check_algorithm1(figure, ref, lines, 0) == set()
    seen = set()
    for step in range(1, 8):  # Next, clicked: the forward pass, unit by unit
        figure.locator('button[data-action="next"]').click()
        assert int(slider.input_value()) == step
        keys = check_algorithm1(figure, ref, lines, step)
        assert seen < keys  # every step shows something new
        seen = keys
    figure.locator('button[data-action="end"]').focus()
    page.keyboard.press("Enter")  # End, from the keyboard
    assert int(slider.input_value()) == len(lines)
    assert check_algorithm1(figure, ref, lines, len(lines)) == set(ref)  # every number
    figure.locator('button[data-action="back"]').focus()
    page.keyboard.press("Space")
    assert int(slider.input_value()) == len(lines) - 1
    check_algorithm1(figure, ref, lines, len(lines) - 1)
    step = drag(page, slider, 0.55)  # the slider, dragged
    assert 0 < step < len(lines) - 1
    check_algorithm1(figure, ref, lines, step)
    page.keyboard.press("ArrowRight")  # and moved with the keyboard
    assert int(slider.input_value()) == step + 1
    check_algorithm1(figure, ref, lines, step + 1)
    figure.locator('button[data-action="start"]').click()
    assert check_algorithm1(figure, ref, lines, 0) == set()
    status = figure.locator("[aria-live]")
    assert "Step 0" in status.inner_text()
    assert not page.errors, page.errors


# ----------------------------------------------------------------------- nudge a weight

GRID = np.arange(-32, 33) / 8  # chapter 4's grid of values for the weight
WEIGHTS = [(1, j, k) for j in (1, 2, 3) for k in (1, 2)] + [(2, 1, k) for k in (1, 2, 3)]


def nudge_numbers(l, j, k, t) -> dict:
    """What the figure shows for W_l[j, k] = t: the package's loss, δ, a, gradient entry,
    central difference (step h = max(1, |t|)/8) and pre-activation."""
    net, x, y = hand_network()
    X, Y = x[None, :], y[None, :]
    net.W[l - 1][j - 1, k - 1] = t
    index = net.layer_slices()[l - 1][0].start + (j - 1) * net.p[l - 1] + (k - 1)

    def cost(v):
        theta = net.theta.copy()
        theta[index] = v[0]
        return net.loss_at(theta, X, Y)

    zs, activations = net.forward(X)
    return {"t": t, "C": net.loss(X, Y), "delta": net.deltas(X, Y)[l - 1][0, j - 1],
            "a": activations[l - 1][0, k - 1], "slope": net.gradient(X, Y)[index],
            "cd": bp.numerical_gradient(cost, np.array([t]), h=1 / 8)[0],
            "z": zs[l - 1][0, j - 1]}


def check_nudge(figure, slider, weight):
    t = GRID[int(slider.input_value())]
    ref = nudge_numbers(*WEIGHTS[weight], t)
    values = {key: (value, text) for key, value, text in shown(figure) if key != "kink"}
    expected = set(ref) - ({"z"} if WEIGHTS[weight][0] == 2 else set())
    assert set(values) == expected, values
    for key, (value, text) in values.items():
        assert close(value, ref[key]), (WEIGHTS[weight], t, key, value, ref[key])
        assert close(text_number(text), value, 5e-6), (key, text, value)  # 6 digits
    assert WEIGHTS[weight][0] == 2 or ref["slope"] == ref["delta"] * ref["a"]
    return t


def test_nudge_a_weight(page):
    figure = open_figure(page, "04_algorithm1", "nudge")
    select, slider = figure.locator("select"), figure.locator("input[type=range]")
    assert select.locator("option").count() == len(WEIGHTS)
    assert check_nudge(figure, slider, 0) == 1  # W_1[1, 1] starts at its value, 1
    select.select_option("2")  # W_1[2, 1], chosen with the mouse
    assert check_nudge(figure, slider, 2) == -1
    kinks = [float(v) for k, v, _ in shown(figure) if k == "kink"]
    assert kinks == [-2]  # unit 2 switches where z_{1,2} = w + 2 = 0
    for fraction in (0.1, 0.37, 0.8):  # dragged
        drag(page, slider, fraction)
        check_nudge(figure, slider, 2)
    slider.focus()
    page.keyboard.press("Home")  # the keyboard: to the left end, then a few steps right
    assert check_nudge(figure, slider, 2) == -4
    for _ in range(16):
        page.keyboard.press("ArrowRight")
    t = check_nudge(figure, slider, 2)
    values = {key: value for key, value, _ in shown(figure)}
    assert t == -2 and values["slope"] == 0 and values["cd"] > 0  # at the kink they part
    select.focus()
    page.keyboard.press("ArrowDown")  # the next weight, from the keyboard: W_1[2, 2]
    assert select.input_value() == "3"
    check_nudge(figure, slider, 3)
    select.select_option("7")  # a weight of the output layer: no kink, z not shown
    drag(page, slider, 0.66)
    check_nudge(figure, slider, 7)
    assert not [k for k, _, _ in shown(figure) if k == "kink"]
    assert not page.errors, page.errors


# ---------------------------------------------------------------------------- saturation


@pytest.fixture(scope="module")
def chapter7_data():
    """Chapter 7's data: the course's polynomial regression set, targets standardised."""
    u, y_raw = bp.datasets.polyreg()
    return u, (y_raw - y_raw.mean()) / y_raw.std()


def saturation_numbers(data, name: str, sigma: float) -> dict:
    u, y = data
    row = bp.explorables.saturation_grid(u, y, [1] + [32] * 10 + [1], [name], [sigma])
    row = row["nets"][name][0]
    ref = {f"rms{l}": v for l, v in enumerate(row["rms"], start=1)}
    ref.update({f"hist{l}_{b}": c for l, counts in enumerate(row["hist"], start=1)
                for b, c in enumerate(counts, start=1)})
    ref.update(sigma=sigma, factor=row["factor"], measured=row["measured"])
    return ref


SIGMAS = [2.0 ** (k / 4 - 2.5) for k in range(-8, 13)]  # chapter 7's grid of σ_w


def check_saturation(figure, data, name):
    slider = figure.locator("input[type=range]")
    sigma = SIGMAS[int(slider.input_value())]
    ref = saturation_numbers(data, name, sigma)
    values = shown(figure)
    assert {k for k, _, _ in values} == set(ref)
    for key, value, text in values:
        rtol = RTOL if key.startswith("hist") or key == "sigma" else RTOL_MEASURED
        assert close(value, ref[key], rtol), (name, sigma, key, value, ref[key])
        if text:
            assert close(text_number(text), value, 5e-3), (key, text, value)  # 3 digits
    return sigma


def test_saturation(page, chapter7_data):
    figure = open_figure(page, "07_saturation", "saturation")
    slider = figure.locator("input[type=range]")
    radios = figure.locator("input[type=radio]")
    assert check_saturation(figure, chapter7_data, "logistic") == math.sqrt(2 / 64)  # Glorot
    figure.get_by_role("button", name="He's scale").click()
    assert check_saturation(figure, chapter7_data, "logistic") == math.sqrt(2 / 32)
    figure.locator("label", has_text="ReLU").click()  # the switch, clicked
    assert radios.nth(2).is_checked()
    check_saturation(figure, chapter7_data, "relu")
    drag(page, slider, 0.9)  # the slider, dragged towards large weights: the error explodes
    check_saturation(figure, chapter7_data, "relu")
    values = {key: value for key, value, _ in shown(figure)}
    assert values["rms1"] > 100 * values["rms11"]
    slider.focus()
    page.keyboard.press("Home")  # small weights: it vanishes
    assert check_saturation(figure, chapter7_data, "relu") == SIGMAS[0]
    page.keyboard.press("ArrowRight")
    assert check_saturation(figure, chapter7_data, "relu") == SIGMAS[1]
    radios.nth(2).focus()
    page.keyboard.press("ArrowRight")  # the radio group wraps round to the first: logistic
    assert radios.nth(0).is_checked()
    check_saturation(figure, chapter7_data, "logistic")
    page.keyboard.press("ArrowRight")
    assert radios.nth(1).is_checked()
    figure.get_by_role("button", name="N(0, 1)'s scale").click()
    assert check_saturation(figure, chapter7_data, "tanh") == 1.0
    status = figure.locator("[aria-live]").inner_text()
    assert re.search(r"tanh, σw = 1 \(N\(0, 1\)'s scale\)", status.replace("\n", "")), status
    assert not page.errors, page.errors
