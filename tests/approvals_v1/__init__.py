"""The approvals store as agentops-kit 0.1.0 wrote it (schema version 1), kept verbatim (only the two imports of
the parent package made absolute) so the tests can create a real version-1 store and migrate it forward."""
