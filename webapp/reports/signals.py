"""Signals other domains listen to without the reports package depending on them (review reacts to new
reports, e.g. to start the emergency plan)."""

from blinker import Namespace

_signals = Namespace()

#: Sent with the new Report after it has been flushed (not for replays).
report_submitted = _signals.signal("report-submitted")
