"""The request path, pure: features, the intent and quality models, the agent stage, the policy."""
