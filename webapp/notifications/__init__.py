"""Telling people what happened: the in-app notification centre, with SMS and e-mail behind interfaces."""
