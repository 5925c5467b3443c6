# One target per task; each is a thin call into a script or console entry point.
# A fresh machine needs only: `make run` (serve) and `make test` (set up and pass the tests).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SETUP_STAMP := $(VENV)/.setup-done
# Locks with hashes (requirements/lock.sh, `make lock`); pip installs nothing they do not name.
PIP_INSTALL = pip install --quiet --require-hashes
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.setup-done
MODEL_VARIANT ?= lite0
MODEL_DIR := artifacts/efficientnet-$(MODEL_VARIANT)/1
MODEL_SOURCES := $(wildcard services/modelbuild/src/classifier_modelbuild/*.py) \
	services/classifier/src/classifier/preprocess.py services/classifier/src/classifier/artifact.py

.DEFAULT_GOAL := help
.PHONY: help system-packages setup lock model model-int8 drill-models run run-int8 test lint format bench bench-gpu gpu-wheels docs generate validate promote checkov image image-int8 image-gpu image-test drill alert-drill loadtest cluster-up cluster-down cost clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

PACKAGES := services/classifier services/modelbuild services/testkit tools

setup: $(SETUP_STAMP) ## create .venv with the pinned dependencies, the service, its model build, its test harness, the tools

$(SETUP_STAMP): requirements/venv.txt $(addsuffix /pyproject.toml,$(PACKAGES)) \
		services/classifier/src/classifier/_resample.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/$(PIP_INSTALL) -r requirements/venv.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation $(addprefix -e ,$(PACKAGES))
	touch $@

checkov: $(CHECKOV_STAMP) ## install checkov in its own venv (it pins shared libraries differently)

$(CHECKOV_STAMP): requirements/checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/$(PIP_INSTALL) -r requirements/checkov.txt
	touch $@

model: $(MODEL_DIR)/metadata.json ## build the model artifact (MODEL_VARIANT=lite0|lite1|lite2)

$(MODEL_DIR)/metadata.json: $(SETUP_STAMP) $(MODEL_SOURCES)
	$(BIN)/classifier-build-model --variant $(MODEL_VARIANT) --output artifacts

INT8_DIR := $(MODEL_DIR)+int8

model-int8: $(INT8_DIR)/metadata.json ## build the model's int8 execution (OpenVINO), version 1+int8, checked against it

$(INT8_DIR)/metadata.json: $(MODEL_DIR)/metadata.json $(MODEL_SOURCES)
	$(BIN)/classifier-build-model --variant $(MODEL_VARIANT) --version $(notdir $(MODEL_DIR)) --execution openvino-int8 --output artifacts

DRILL_DEFECTS := shuffled-labels swapped-channels wrong-normalisation wrong-crop
DRILL_MODELS := $(foreach defect,$(DRILL_DEFECTS),$(dir $(MODEL_DIR))drill-$(defect)/metadata.json)

drill-models: $(DRILL_MODELS) ## DRILL ONLY: defective artifacts next to the model's, refused unless CLASSIFIER_ALLOW_DRILL_DEFECTS

$(dir $(MODEL_DIR))drill-%/metadata.json: $(MODEL_DIR)/metadata.json $(MODEL_SOURCES)
	$(BIN)/classifier-build-model --variant $(MODEL_VARIANT) --version $(notdir $(MODEL_DIR)) --drill-defect $* --output artifacts

run: model ## serve the default model on 127.0.0.1:8000 (the int8 one: make run-int8)
	CLASSIFIER_MODEL_DIR=$(MODEL_DIR) $(BIN)/classifier-serve

run-int8: model-int8 ## serve the model's int8 execution (version 1+int8) on 127.0.0.1:8000
	CLASSIFIER_MODEL_DIR=$(INT8_DIR) $(BIN)/classifier-serve

SHELL_SCRIPTS := $(wildcard .ci/run .ci/*.sh requirements/*.sh .github/e2e/*.sh services/classifier/container/*.sh cluster/*.sh)

lint: $(SETUP_STAMP) ## ruff, mypy, hadolint, actionlint and shellcheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint services/classifier/Dockerfile
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/actionlint
	shellcheck -x $(SHELL_SCRIPTS)

lock: $(SETUP_STAMP) ## re-lock every requirements/*.in into its requirements/*.txt, with hashes (uv)
	requirements/lock.sh

format: $(SETUP_STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

system-packages: ## Debian packages the tests drive (shellcheck, chromium, podman; Prometheus 3.5 and Alertmanager 0.28.1 as in production)
	.ci/system-packages.sh

test: system-packages lint model model-int8 checkov ## set up, lint, validate every environment and run the whole test suite
	$(BIN)/gitops-generate --check
	$(BIN)/gitops-cost --check
	$(BIN)/gitops-validate
	$(BIN)/python -m pytest

export CONTAINERS_CONF ?= $(CURDIR)/services/classifier/container/containers.conf
IMAGE ?= localhost/classifier:dev
# Local wheel folders pip may take big wheels (torch) from during the image build, if present.
WHEEL_DIRS ?= /opt/pypi/files:/opt/pypi-more/files

image: system-packages ## build the runtime image with podman (base image built locally, cached)
	services/classifier/container/build-base-image.sh
	WHEEL_DIRS=$(WHEEL_DIRS) services/classifier/container/build-image.sh $(IMAGE) runtime

image-int8: system-packages ## build the runtime image of the model's int8 execution (version 1+int8), tagged IMAGE-int8
	services/classifier/container/build-base-image.sh
	MODEL_VERSION=1+int8 WHEEL_DIRS=$(WHEEL_DIRS) services/classifier/container/build-image.sh $(IMAGE)-int8 runtime

image-gpu: ## build the GPU flavour (torch with CUDA; ~6 GB, not part of CI)
	services/classifier/container/build-base-image.sh
	WHEEL_DIRS=$(WHEEL_DIRS) services/classifier/container/build-image.sh $(IMAGE)-gpu runtime-gpu

image-test: $(SETUP_STAMP) ## run the images (make image image-int8) read-only as their numeric user and smoke-test them
	CLASSIFIER_IMAGE=$(IMAGE) CLASSIFIER_INT8_IMAGE=$(IMAGE)-int8 \
		$(BIN)/python -m pytest -p no:cacheprovider services/classifier/container_tests

bench: model model-int8 ## measure throughput and latency against the naive baseline; writes docs/performance.md
	$(BIN)/$(PIP_INSTALL) -r requirements/bench.txt
	$(BIN)/python benchmarks/bench_service.py --output docs/performance.md

gpu-wheels: $(SETUP_STAMP) ## download (PyPI) the locked wheels a bare GPU machine lacks for bench-gpu into wheels/gpu-cp312
	$(BIN)/python benchmarks/gpu_setup.py prepare

bench-gpu: ## on a GPU machine, offline (carry wheels/gpu-cp312): measure the GPU path; writes docs/performance-gpu.md
	$(PYTHON) benchmarks/gpu_setup.py run -- $(PYTHON) benchmarks/bench_gpu.py

clean: ## remove the virtual environment and built artifacts
	rm -rf $(VENV) $(CHECKOV_VENV) artifacts wheels .bench-gpu .pytest_cache .mypy_cache .ruff_cache

generate: $(SETUP_STAMP) ## regenerate manifests made from platform/slo/slos.yaml
	$(BIN)/gitops-generate

validate: $(SETUP_STAMP) checkov ## render every environment and the chart on its own; schemas, policies, checkov
	$(BIN)/gitops-validate

promote: $(SETUP_STAMP) ## promote an image: make promote FROM=dev TO=staging STATUS=status.json SIGNATURE=signature.json
	$(BIN)/gitops-promote promote $(FROM) $(TO) $(if $(STATUS),--status $(STATUS)) $(if $(SIGNATURE),--signature $(SIGNATURE))

cost: $(SETUP_STAMP) ## cost estimate from the benchmark's numbers and dated prices; writes docs/cost.md
	$(BIN)/gitops-cost

cluster-up: ## local kind cluster with ingress-nginx, Argo CD and the bootstrap app (needs Docker + internet)
	cluster/cluster-up.sh

cluster-down: ## delete the local kind cluster
	cluster/cluster-down.sh

drill: model model-int8 drill-models ## canary drill: real Prometheus and locust, whole AnalysisRuns in compressed time, three agreeing rounds
	$(BIN)/gitops-drill

alert-drill: system-packages $(SETUP_STAMP) ## alert delivery: real Prometheus and Alertmanager, each failure's page timed to the pager
	$(BIN)/gitops-alert-drill

loadtest: model ## locust scenario against a local service: make loadtest SCENARIO=smoke [HOST=http://...]
	$(BIN)/python loadtests/run.py $(SCENARIO) $(if $(HOST),--host $(HOST))

docs: $(SETUP_STAMP) ## regenerate the settings table in services/classifier/README.md
	$(BIN)/python -m classifier.settings_doc services/classifier/README.md
