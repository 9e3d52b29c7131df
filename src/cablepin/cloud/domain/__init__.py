"""The cloud's rules as plain functions and data, without I/O (unit-tested alone).

* ``policy``: which role may call which route (a table).
* ``commands``: the life of every command (wipe, PIN permission) as one table:
  states, events, transitions, and when a command counts (``live``).
* ``permissions``: P8 PIN-reset permissions (lifetime, who must give a reason).
* ``clean_start``: the next driver starts clean (H3).
* ``attribution``: who may upload which batch (S1, S3, H3).
* ``audit``: how an audit link is hashed and how the chain is checked (R2).
* ``throttle``: how long a login waits after failures.
* ``billing``: months, deadlines, proof documents and prices of reimbursement (M1-M3).
"""
