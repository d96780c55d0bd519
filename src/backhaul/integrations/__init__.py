"""Integrations: carrier adapters and their webhooks, customer notifications, the dispatcher."""
