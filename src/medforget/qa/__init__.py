"""Questions and answers: template QA (:mod:`medforget.qa.generate`), LLM QA over any
OpenAI-compatible endpoint (:mod:`medforget.qa.llm`), TOFU's truth-ratio inputs
(:mod:`medforget.qa.truth`) and general medical utility rows (:mod:`medforget.qa.utility`).
The generators are registered in :data:`medforget.qa.base.QA_GENERATORS`."""
