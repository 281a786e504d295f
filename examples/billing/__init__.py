"""Monthly fee charging against a payment gateway simulator: see README.md in this folder."""
