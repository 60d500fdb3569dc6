"""Handing over store orders (核销) at a service point: the counter staff's own pages, outside ``/admin``."""
