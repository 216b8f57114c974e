"""Gettext catalogues (Babel-managed) for user-visible text that hybridcal writes into events.

``locales/<locale>/LC_MESSAGES/hybridcal.po`` are the sources translators edit; the compiled
``.mo`` files are committed so the deployed functions need no build step. Regenerate with
``make i18n`` (pybabel extract → update → compile).
"""
