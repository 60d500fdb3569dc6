"""Points admin pages (/admin/points): views.py (the overview; create_app registers its blueprint), one module
per page group (rules, campaigns, items, fund, reversals), forms.py and common.py (the blueprint and helpers)."""
