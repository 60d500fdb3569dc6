"""Signals other domains listen to without the reports package depending on them (review reacts to new
reports, e.g. to start the emergency plan)."""

from blinker import Namespace

_signals = Namespace()

#: Sent with the new Report after it has been flushed (not for replays).
report_submitted = _signals.signal("report-submitted")

#: Sent with the Report when a signed-in person opens its page (``viewer=`` the user). Receivers return whether
#: they wrote something (the page then commits it): the notification centre marks that person's news about the
#: report read.
report_opened = _signals.signal("report-opened")
