"""The DeepLIFT engine: tracing and planning (graph), the op table (ops), the rules, the interpreter."""
