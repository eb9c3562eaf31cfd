"""A branch node, in layers that import one way, top to bottom:

    app.py     the aiohttp app, its lifecycle, and the one place a refusal becomes JSON
    routes/    thin HTTP handlers: request -> service -> JSON
    sync/      the replicator, HQ's feed appliers, the HTTP client to HQ, enrollment
    services/  the business (members, cards, holds, checkout, stock and its documents); no HTTP
    store/     schema and migrations, the group-commit writer, the change log, read threads

A layer imports any layer below it, never one above; errors.py and config.py are
leaves every layer may import.
"""
