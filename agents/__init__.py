"""toolgym.agents: policies, language-model backends, prompting methods and reflectors."""
