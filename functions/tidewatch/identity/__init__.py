"""Identity: Sign-In with Ethereum (EIP-4361), JWT access tokens, rotating refresh tokens, users."""
