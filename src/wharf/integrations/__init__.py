"""Outbound calls: OIDC issuers now; webhooks, SMTP, Slack and upstream registries later."""
