"""Cross-cutting plumbing: errors, audit chain, outbox, auth and roles, signing, ids."""
