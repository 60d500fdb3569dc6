"""Open311 GeoReport v2 under ``/open311/v2/`` (https://wiki.open311.org/GeoReport_v2/), XML and JSON.

Resources: ``discovery``, ``services``, ``services/<code>`` (service definitions), ``requests`` (GET and POST),
``requests/<id>`` and ``tokens/<token>``; the format is the suffix (``.xml`` or ``.json``). JSON follows the
spec's convention: lists are top-level arrays (services, requests, the POST answer, tokens, errors); discovery
and a service definition are objects. Errors are ``errors/error/{code, description}`` with the HTTP status
(403 api key, 404 unknown resource or service_code, 400 anything else), in the requested format.

* Services are our active categories. ``service_code`` is the 5-digit category code, always a string;
  ``service_name`` and ``group`` are Chinese unless ``locale``/``lang`` or Accept-Language asks for English.
  Every service is ``realtime``: a POST answers with the new ``service_request_id`` at once; a token is still
  stored per request so ``tokens/<token>`` works for clients that poll.
* POST ``requests`` needs ``api_key`` (issued at ``/admin/api-keys`` or by ``flask --app webapp create-api-key``),
  is rate-limited per key (``RATELIMIT_OPEN311``) and is not CSRF-protected (it is authenticated by the key,
  never by a cookie). The report is filed by the key's service user through ``submit_report`` with channel
  ``open311``, without photos, and goes through review like any other report. Every POST is a new report:
  GeoReport v2 has no idempotency key (``device_id`` names a device, not a request), so ``client_id`` is a fresh
  UUID.
* ``media_url`` is stored as text, never fetched and never shown: GET shows only our own, EXIF-free photos.
  The reporter's e-mail, names, phone, device and account ids are kept privately and never appear in GET.
* ``jurisdiction_id`` is optional (one jurisdiction per server); with OPEN311_JURISDICTION set, another value is a
  404. API keys are issued and revoked by admins at ``/admin/api-keys`` (or ``flask create-api-key``).
* GET ``requests`` filters: ``service_request_id`` (comma list; overrides every other filter), ``service_code``
  and ``status`` (comma lists), ``start_date``/``end_date`` on requested_datetime and the extension
  ``updated_after``/``updated_before`` on updated_datetime (W3C date-times with a timezone; a window spans at
  most 90 days; one bound alone opens a 90-day window from it), ``page``/``page_size`` (at most 200). Without
  a date filter the window is the last 90 days; without paging at most 1000 requests, newest first.
* Status: ``closed`` for our closed and rejected (不予受理) reports, ``open`` for every other state;
  ``status_notes`` is the last step's label and note, or the refusal reason.

Modules: ``base`` (limits, ``Open311Error``), ``services`` (service definitions and their questions), ``queries``
(GET requests), ``submission`` (POST requests), ``formats`` (XML/JSON), ``views`` (the blueprint).
"""
