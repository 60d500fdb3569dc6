"""Public pages of campaigns (专项整治): what a campaign is about, where, until when, and how its cases are going.

Campaigns themselves (categories, places, dates, multiplier, budget) live in ``webapp.points``; this package adds
whether a campaign is published, its public pages, their case counts, and the prefill "from a hotspot".
"""
