"""Case events, announced rather than called: the workflow does not know who listens.

``workflow.perform`` sends ``case_event`` after every step of a case (the event row is flushed); the points
(awards for opened cases, volunteers' results …) and the notifications (the reporter and followers, the department
a case is sent to, the people an escalation or an emergency alerts) subscribe in ``create_app``. So the review
package imports nothing from ``points`` or ``notifications``. (The analytics roll-up needs no subscription: it
follows every committed change to reports through the ORM, ``analytics/rollup.install``.)
"""

from blinker import Namespace

_signals = Namespace()

#: Sent with the Report as sender and ``event`` (the ReportEvent just written) and ``from_status``.
case_event = _signals.signal("case-event")

#: Sent with the Report when an emergency that already runs reaches the department the case was just sent to
#: (no workflow step: the plan was started before); its heads are alerted.
emergency_reaches_department = _signals.signal("emergency-reaches-department")
