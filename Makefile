# Kinevox — the two commands a newcomer needs:
#   make run    set up, build (release) and start kinevoxd on Config/kinevox.toml and the bundled model
#   make test   set up, build and run every test (Swift, Python, systemd unit checks)
# Others: make bench, make install, make dataset.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SWIFT ?= swift
PREFIX ?= /usr/local

APT_PACKAGES := pkg-config libasound2-dev libasound2-plugins alsa-utils libopenblas-dev \
  libwebsockets-dev libsndfile1-dev libsoxr-dev espeak-ng flite festival festvox-kallpc16k \
  festvox-kdlpc16k festvox-us-slt-hts sox libsox-fmt-all chromium libjs-three python3-venv \
  systemd pocketsphinx pocketsphinx-en-us pocketsphinx-testdata wordnet-base wordnet-sense-index mythes-en-us \
  mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 rhvoice rhvoice-english libttspico-utils
# mbrola voices (contrib/non-free), rhvoice and libttspico-utils (non-free) need Debian's contrib and non-free
# components: system-deps adds them as a deb822 sources file (the Debian way) before installing.
APT_NONFREE_SOURCES := /etc/apt/sources.list.d/kinevox-contrib-nonfree.sources

.PHONY: run test bench system-deps venv build build-release install clean

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

## Python virtual environment under the repo (ignored by git).
venv: $(VENV)/.installed
$(VENV)/.installed: Training/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r Training/requirements.txt
	$(VENV)/bin/pip install -q --no-deps openwakeword==0.5.1
	touch $@

build: system-deps
	$(SWIFT) build --build-tests

build-release: system-deps
	$(SWIFT) build -c release

test: system-deps venv build
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

## Benchmarks (not part of `make test`; ~5-10 min): engine layers vs sgemm, the pipeline in Swift vs PyTorch eager
## vs ONNX Runtime, the paper-sized model, the cascaded pocketsphinx baseline, kinevoxd latency/idle/RSS.
## Writes docs/benchmarks.md and docs/benchmarks-latency.png. Run it on an otherwise idle machine.
bench: build-release venv
	cd Training && ../$(PY) -m kinevox_train.bench.report

## FHS install (PREFIX=/usr/local by default; DESTDIR for staging): binaries, bundled model, viewer, the
## config under /etc/kinevox (kept if present), the systemd unit with ExecStart pointing into PREFIX.
SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
install: build-release
	install -Dm755 .build/release/kinevoxd $(DESTDIR)$(PREFIX)/bin/kinevoxd
	install -Dm755 .build/release/kinevox $(DESTDIR)$(PREFIX)/bin/kinevox
	install -Dm644 Models/kinevox-default.safetensors $(DESTDIR)$(PREFIX)/share/kinevox/models/kinevox-default.safetensors
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

clean:
	rm -rf .build
