"""Keyword join details: a keyword in Location becomes a join URL, a localized block and markers."""
