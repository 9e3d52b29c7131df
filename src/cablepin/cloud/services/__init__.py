"""Use cases of the cloud: plain functions over a SQLAlchemy ``Session`` and an ``Actor``.

The JSON API and the portal call the same functions. A function that changes
something is a unit of work (``@transactional``, ``cloud/db.py``): inside a
request it joins the request's, which commits once; called alone (CLI,
tests) it commits itself. Time comes in as ``now``. Refusals
are ``cablepin.cloud.errors`` exceptions.

* ``accounts``: organisations, users, login/logout, bearer tokens, login throttling.
* ``cables``: registration, fleet listing/detail, assignment, PIN-reset
  permissions, handovers and resets.
* ``commands``: the one owner of a command's state: every change is a
  conditional UPDATE derived from ``domain/commands.py``.
* ``ingest``: the app endpoints (connect, receipts, session upload).
* ``sessions``: listing charging sessions.
* ``billing``: billing policy, flat prices, tariffs (M1, M2).
* ``receipts``: month view, receipts, approval, evidence bundles (M3, M4, M6).
  These two do not commit: their routes end the unit of work.
* ``audit``: appending to, reading and verifying the audit chain.
"""
