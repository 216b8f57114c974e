"""Envelope encryption of everything sensitive the service keeps or publishes."""
