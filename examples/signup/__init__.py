"""Sign-up with an activation email that reaches every user, or a person who can help: see README.md here."""
