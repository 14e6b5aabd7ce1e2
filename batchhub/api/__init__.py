"""The REST API framework: error shapes, the edge, authentication, rate limits, idempotency, the write pipeline,
`ApiCall` and the claim/apply loop. Domain apps add routes (their own `api.py`) and register an applier per call
kind (`appliers.applier_register`) from their AppConfig.ready(); this app imports no domain app."""
