"""LightMem where agents already live: ``lightmem.integrations.langgraph.LightMemStore`` (a
LangGraph ``BaseStore``) and ``lightmem.integrations.agents.LightMemSession`` (an OpenAI
Agents SDK ``Session``). Each imports its framework when imported and needs its extra
(``pip install 'lightmem[langgraph]'``, ``'lightmem[agents]'``); the memory proxy is
``lightmem proxy`` (:mod:`lightmem.server.proxy`). See ``docs/integrations.md``."""
