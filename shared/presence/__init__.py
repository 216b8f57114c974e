"""Out-of-office presence from the Gmail vacation responder."""
