"""Who answers: backends, agents, sessions, the executor with fallback and the circuit breaker."""
