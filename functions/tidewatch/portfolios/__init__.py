"""Portfolios: a user's named groups of wallet addresses and the positions they hold."""
