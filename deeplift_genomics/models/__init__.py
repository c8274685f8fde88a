"""Models: the architecture spec, model directories (JSON + safetensors), training, metrics, bpnet-lite import."""
