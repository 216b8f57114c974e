"""Meetings for the app and room devices: the sealed index, its HTTP API and page, join notifications."""
