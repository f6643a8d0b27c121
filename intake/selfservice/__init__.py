"""The borrower's self-service page, served by the HTTP service at /s (`app.create_app`)."""
