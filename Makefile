# The two commands a reader needs: `make book` and `make test`. Every target sets up
# .venv from requirements.txt (and installs this package into it) when that is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JB     := $(VENV)/bin/jupyter-book
NOTEBOOKS := $(sort $(wildcard book/*.ipynb))

.PHONY: book test unit nbval notebooks lab bench bench-gpu lint clean help test-thorough mutation coverage

help:
	@echo "make book       build the HTML book in _build/html (offline, warnings are errors)"
	@echo "make test       unit tests, nbval on every notebook, and a warnings-as-errors book build"
	@echo "make notebooks  re-execute every notebook in place (fresh kernel, top to bottom)"
	@echo "make lab        open the chapters in JupyterLab (installs it into .venv once)"
	@echo "make bench      side-by-side gradient timings (installs benchmarks/requirements.txt)"
	@echo "make bench-gpu  on an NVIDIA GPU: the CuPy tests, then the GPU timings (results-gpu.json)"
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

book: $(STAMP)
	$(JB) build . --builder html -W -n --keep-going

test: unit nbval
	rm -rf _build/html _build/.doctrees
	$(MAKE) book
	$(PY) -m pytest tests/test_book_html.py -q

unit: $(STAMP)
	$(PY) -m pytest tests -q --ignore=tests/test_book_html.py --cov=backprop --cov-branch --cov-report=term-missing:skip-covered

# The property tests with many fresh random examples (make test's are derandomized), e.g.
# `make test-thorough SEED=12` to replay one run; prints how many examples each test ran.
test-thorough: $(STAMP)
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest tests -q --ignore=tests/test_book_html.py \
	  -p no:cacheprovider --hypothesis-show-statistics $(if $(SEED),--hypothesis-seed=$(SEED))

# Mutation testing of the core modules ([tool.mutmut] in pyproject.toml; slow, not part of
# make test). Report: tests/MUTATION.md. `.venv/bin/mutmut browse` lists the survivors.
mutation: $(STAMP)
	$(PY) -m pip install --quiet -r tests/requirements-mutation.txt
	$(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/mutmut results

# Branch coverage of the package as HTML (htmlcov/index.html); make test prints the summary.
coverage: $(STAMP)
	$(PY) -m pytest tests -q --ignore=tests/test_book_html.py --cov=backprop --cov-branch \
	  --cov-report=html --cov-report=term:skip-covered

NBVAL := $(PY) -m pytest --nbval book/ --nbval-sanitize-with book/sanitize.cfg -q -p no:randomly

# nbval twice: with this machine's arithmetic, then with another one's (numpy.dot summing in a
# permuted order, NumPy's AVX2/AVX-512 ufunc kernels off), so that a stored output that only
# this machine's rounding reproduces fails here rather than on a reader's machine.
nbval: $(STAMP)
	$(NBVAL)
	PYTHONPATH=$(CURDIR)/tests/other_arithmetic NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4" $(NBVAL)

notebooks: $(STAMP)
	for nb in $(NOTEBOOKS); do \
	  echo "executing $$nb"; \
	  $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=600 "$$nb" || exit 1; \
	done

# JupyterLab is for readers, not for the tests, so it is installed on first use only.
lab: $(STAMP)
	test -x $(VENV)/bin/jupyter-lab || $(PY) -m pip install --quiet "jupyterlab>=4,<5"
	$(VENV)/bin/jupyter lab book/

bench: $(STAMP)
	$(PY) -m pip install --quiet -r benchmarks/requirements.txt
	$(PY) benchmarks/run.py

# The one GPU check: every test on the CuPy backend must pass (none may be skipped), then
# the CuPy-vs-torch-CUDA timings. requirements-gpu.txt brings CuPy with NVRTC (~3 GB).
bench-gpu: $(STAMP)
	$(PY) -m pip install --quiet -r requirements-gpu.txt -r benchmarks/requirements.txt
	$(PY) -c "import cupy, sys; sys.exit(0 if cupy.is_available() else 'no CUDA device')"
	$(PY) -m pytest tests -q -m gpu --ignore=tests/test_book_html.py
	$(PY) benchmarks/run.py --gpu

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf _build .pytest_cache .hypothesis .ruff_cache mutants htmlcov .coverage
	find . -name __pycache__ -not -path "./.venv/*" -exec rm -rf {} +
