"""The HQ aggregator: enrollment, verified ingest, per-branch feeds, merged sales."""
