"""IVR flows as data (``ivr_flows/*.yaml``): the file format (``model``), loading and
caching (``loader``), schema and graph validation (``validate``), the validated flow
(``flow``) and the prompt audio (``sounds``).

Nothing here talks to a channel: the runner that plays a flow to a caller is
``callcenter.agi.flow_runner``.
"""
