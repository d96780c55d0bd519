"""Accounts: users, API keys, sign-in and the scopes that bound what each principal sees."""
