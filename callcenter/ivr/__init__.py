"""IVR flows as data (ivr_flows/*.yaml): loading, validation, and the engine that drives them over AGI."""
