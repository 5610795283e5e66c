"""LLMs behind any OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama, ``transformers serve``, a
hosted API): the robust cached client (:mod:`medforget.llm.client`) that LLM QA and the judge share,
checked JSON replies (:mod:`medforget.llm.replies`), and a local SmolLM2 server (:mod:`medforget.llm.serve`)."""
