# sluice: build, run, test, bench. `make help` lists the targets.
SHELL := /bin/bash
CARGO ?= cargo
WASM_TARGET := wasm32-wasip2
PLUGIN_TARGET_DIR := target/plugins
PLUGIN_OUT := $(PLUGIN_TARGET_DIR)/$(WASM_TARGET)/release
PLUGINS := identity parse redact-pii enrich red-metrics relabel
# Built in a cargo invocation of their own: parse's and relabel's `regex` (with its `perf`
# feature) would turn on regex-automata features in redact-pii too (cargo unifies features
# per build), which made the component 1.34 MB instead of 1.0 MB and 2% slower
# (bench/RESULTS.md, session 10).
SOLO_PLUGINS := redact-pii
TEST_PLUGINS := bad-trap bad-loop bad-oom wrong-world future-major older-patch
# Benchmark yardsticks (bench/), not shipped: dist/bench-plugins.
BENCH_PLUGINS := regex-redact
# Plugins in other languages (docs/plugins.md): plugins/python/NAME/app.py -> py_NAME.wasm
# (componentize-py, pinned in plugins/python/requirements.txt) and plugins/js/NAME/index.js
# -> js_NAME.wasm (componentize-js, pinned in plugins/js/package-lock.json). Offline once
# those are installed.
PY_PLUGINS := redact enrich identity
JS_PLUGINS := redact enrich identity
COMPONENTIZE_PY ?= componentize-py
PY_WASM := $(PY_PLUGINS:%=dist/plugins/py_%.wasm)
JS_WASM := $(JS_PLUGINS:%=dist/plugins/js_%.wasm)
# C plugins: plugins/c/NAME/*.c + plugins/c/sluice_records.c -> c_NAME.wasm. Debian's clang,
# lld, wasi-libc and libclang-rt-dev-wasm32 compile a wasm32-wasi reactor module against
# wit-bindgen's C bindings; the debug build of sluice (`sluice plugin c-bindings` and
# `componentize`, host/src/plugin_c.rs: wit-bindgen-c and wit-component) writes the bindings
# of wit/ and turns the module into a component. Offline once those are installed;
# intermediate files under target/c-plugins.
C_PLUGINS := redact enrich identity
C_WASM := $(C_PLUGINS:%=dist/plugins/c_%.wasm)
CLANG ?= clang
C_BUILD := target/c-plugins
C_BINDINGS := $(C_BUILD)/bindings
TOOLS_TARGET_DIR ?= target
SLUICE_DEBUG := $(TOOLS_TARGET_DIR)/debug/sluice
WASI_CFLAGS := --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Wextra -Werror \
  -Iplugins/c -I$(C_BINDINGS)

.PHONY: help build install demo plugins plugins-py plugins-js plugins-c plugins-c-test plugins-lang-test run test lint bench pii-score pii-bench wasm-target clean

help:
	@echo "make run      build everything and run pipelines/quickstart.toml (Ctrl-C stops it)"
	@echo "make demo     the tracing demo: a backend under load, sluice, Loki double, Prometheus (docs/tracing.md)"
	@echo "make install  put sluice on PATH (cargo install; PREFIX=/usr/local for /usr/local/bin)"
	@echo "make test     build the plugins, then run every test (unit, end-to-end, pipeline tests)"
	@echo "make bench    run the benchmark harness (bench/README.md)"
	@echo "make pii-score  score redact-pii through sluice on the PII corpora (needs plugins, build)"
	@echo "make pii-bench  redact-pii: native vs Wasm in sluice vs no plugin (bench/pii.sh)"
	@echo "make plugins  build the WebAssembly plugins into dist/"
	@echo "make plugins-py / plugins-js / plugins-c  build the Python / JavaScript / C plugins into dist/plugins"
	@echo "make lint     cargo fmt --check and clippy -D warnings"

wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

# Plugins use Wasm SIMD (wasmtime enables it by default): memchr and friends then scan 16
# bytes at a time instead of 4 (redact-pii is ~8% faster; bench/RESULTS.md).
# The benchmark yardsticks build on their own: built together with redact-pii, their `regex`
# would turn on regex-automata features in redact-pii too (cargo unifies features per build).
plugins: wasm-target
	CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=true \
	  CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="-C target-feature=+simd128" \
	  $(CARGO) build --release --target $(WASM_TARGET) --target-dir $(PLUGIN_TARGET_DIR) \
	  $(addprefix -p ,$(filter-out $(SOLO_PLUGINS),$(PLUGINS)) $(TEST_PLUGINS))
	for p in $(SOLO_PLUGINS); do \
	  CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=true \
	  CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="-C target-feature=+simd128" \
	  $(CARGO) build --release --target $(WASM_TARGET) --target-dir $(PLUGIN_TARGET_DIR) -p $$p \
	  || exit 1; done
	CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=true \
	  CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="-C target-feature=+simd128" \
	  $(CARGO) build --release --target $(WASM_TARGET) --target-dir $(PLUGIN_TARGET_DIR) \
	  $(addprefix -p ,$(BENCH_PLUGINS))
	@mkdir -p dist/plugins dist/test-plugins dist/bench-plugins
	@for p in $(PLUGINS); do cp $(PLUGIN_OUT)/$${p//-/_}.wasm dist/plugins/; done
	@for p in $(TEST_PLUGINS); do cp $(PLUGIN_OUT)/$${p//-/_}.wasm dist/test-plugins/; done
	@for p in $(BENCH_PLUGINS); do cp $(PLUGIN_OUT)/$${p//-/_}.wasm dist/bench-plugins/; done
	@ls -l dist/plugins dist/test-plugins dist/bench-plugins | grep wasm

plugins-py: $(PY_WASM)

dist/plugins/py_%.wasm: plugins/python/%/app.py plugins/python/sluice_records.py wit/sluice.wit
	@mkdir -p $(@D)
	$(COMPONENTIZE_PY) -d wit -w log-transform componentize \
	  -p plugins/python -p plugins/python/$* app -o $@

plugins-js: $(JS_WASM)

plugins/js/node_modules/.package-lock.json: plugins/js/package.json plugins/js/package-lock.json
	cd plugins/js && npm ci --no-audit --no-fund

dist/plugins/js_%.wasm: plugins/js/%/index.js plugins/js/sluice_records.js plugins/js/build.mjs \
    wit/sluice.wit plugins/js/node_modules/.package-lock.json
	node plugins/js/build.mjs plugins/js/$* $@

plugins-c: $(C_WASM)

# Built when missing or when the code of those two subcommands changes (a stale binary is
# otherwise fine: the bindings come from wit/, not from the WIT compiled in).
$(SLUICE_DEBUG): host/src/plugin_c.rs host/src/main.rs host/Cargo.toml Cargo.lock
	$(CARGO) build -p sluice --target-dir $(TOOLS_TARGET_DIR)
	@touch $@

# log_transform.h, log_transform.c and log_transform_component_type.o.
$(C_BINDINGS)/.stamp: wit/sluice.wit $(SLUICE_DEBUG)
	$(SLUICE_DEBUG) plugin c-bindings --wit wit --world log-transform --out $(C_BINDINGS)
	@touch $@

# --strip-debug drops wasi-libc's debug info and keeps the component-type section.
.SECONDEXPANSION:
dist/plugins/c_%.wasm: $$(wildcard plugins/c/$$*/*.c) plugins/c/sluice_records.c \
    plugins/c/sluice_records.h $(C_BINDINGS)/.stamp $(SLUICE_DEBUG)
	@mkdir -p $(@D) $(C_BUILD)
	$(CLANG) $(WASI_CFLAGS) -Wl,--strip-debug -o $(C_BUILD)/$*.core.wasm \
	  $(wildcard plugins/c/$*/*.c) plugins/c/sluice_records.c \
	  $(C_BINDINGS)/log_transform.c $(C_BINDINGS)/log_transform_component_type.o
	$(SLUICE_DEBUG) plugin componentize $(C_BUILD)/$*.core.wasm -o $@

# The C record view and plugins natively, with AddressSanitizer and UBSan (plugins/c/test).
C_NATIVE_CFLAGS := -std=c11 -g -O1 -Wall -Wextra -Werror -fsanitize=address,undefined \
  -fno-omit-frame-pointer -fno-sanitize-recover=all -Iplugins/c -I$(C_BINDINGS)
plugins-c-test: $(C_BINDINGS)/.stamp
	@mkdir -p $(C_BUILD)/native
	$(CLANG) $(C_NATIVE_CFLAGS) plugins/c/test/test_records.c plugins/c/test/harness.c \
	  plugins/c/sluice_records.c -o $(C_BUILD)/native/test_records
	$(C_BUILD)/native/test_records
	@for p in redact enrich; do \
	  echo "$(CLANG) ... plugins/c/test/test_$$p.c plugins/c/$$p/*.c"; \
	  $(CLANG) $(C_NATIVE_CFLAGS) plugins/c/test/test_$$p.c plugins/c/test/harness.c \
	    plugins/c/sluice_records.c plugins/c/$$p/*.c -o $(C_BUILD)/native/test_$$p && \
	  $(C_BUILD)/native/test_$$p || exit 1; \
	done

# The Python, JavaScript and C record views and plugins, natively (no component needed).
plugins-lang-test: plugins/js/node_modules/.package-lock.json plugins-c-test
	python3 -m unittest discover -s plugins/python
	cd plugins/js && npm test

build:
	$(CARGO) build --release -p sluice

run: plugins build
	target/release/sluice run pipelines/quickstart.toml

# The tracing demo (docs/tracing.md): examples/demo-app under load, sluice on its log, the
# Loki test double, and Prometheus + Alertmanager when installed. Ctrl-C stops it.
demo: plugins
	$(CARGO) build --release -p sluice -p demo-app -p loki-receiver
	examples/demo-app/demo.sh

# Puts `sluice` on PATH (~/.cargo/bin, or $(PREFIX)/bin with PREFIX=/usr/local), the
# release build without debug info. Plugins stay in dist/ (`make plugins`).
PREFIX ?=
install:
	$(CARGO) install --locked --path host $(if $(PREFIX),--root $(PREFIX))

test: plugins plugins-py plugins-js plugins-c plugins-lang-test
	SLUICE_REQUIRE_LANG_PLUGINS=1 $(CARGO) test --workspace --exclude identity --exclude bad-trap --exclude bad-loop --exclude bad-oom --exclude wrong-world --exclude future-major --exclude older-patch
	test -x target/debug/sluice || $(CARGO) build -p sluice
	@for f in pipelines/*.toml; do target/debug/sluice validate $$f || exit 1; done
	target/debug/sluice test pipelines/quickstart.toml
	SLUICE=target/debug/sluice tests/pii/score.sh tests/pii/dev.jsonl
	SLUICE=target/debug/sluice tests/pii/score.sh tests/pii/variants.jsonl

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	# The plugins' Wasm-only code (the simd128 paths) as `make plugins` builds it.
	CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="-C target-feature=+simd128" \
	  $(CARGO) clippy --target $(WASM_TARGET) --target-dir $(PLUGIN_TARGET_DIR) \
	  $(addprefix -p ,$(PLUGINS) sluice-plugin) -- -D warnings

bench: plugins
	bench/run.sh

# Scores redact-pii through a real pipeline (file -> plugin -> file) on the dev corpus and
# on tests/pii/variants.jsonl. Assumes `make plugins build` ran.
pii-score:
	tests/pii/score.sh tests/pii/dev.jsonl
	tests/pii/score.sh tests/pii/variants.jsonl

pii-bench:
	bench/pii.sh

clean:
	rm -rf target dist
