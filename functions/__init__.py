"""Thin Cloud Functions entry points: parse the trigger, call ``shared/``, map the outcome.

Each module holds one entry point; :mod:`main` re-exports them under their deploy names.
"""
